// Address labels as a PDF: sheets of 3 x 8 labels of 70 x 36 mm on A4 (the common Dutch label
// sheet, e.g. Avery 3475), one member per label: korte_naam, straat, postcode and woonplaats,
// and land when it is not Nederland (in capitals, as the post asks for mail abroad). For the
// address-sticker reports. Text is set in Helvetica (a PDF base font, so nothing is embedded)
// with WinAnsi encoding: é, ë, ö and the other Dutch letters print as themselves, the ij
// ligature as "ij", anything else outside the encoding as '?'. Lines too wide for a label end
// in an ellipsis.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/table.h>

#include "query/piece_source.h"

namespace memberlake::query {

// Invalid naming the missing columns when `schema` lacks korte_naam, straat, postcode or
// woonplaats (checked before anything is sent, so it can still be a 400).
arrow::Status CheckAddressColumns(const arrow::Schema& schema);

// The PDF streamed: `pages_per_piece` sheets a piece, written as they are laid out (the header
// and font first; the catalog, the page tree, the cross-reference table and the trailer last,
// with the byte offsets noted while writing). What it holds besides the rows of `rows` (which
// the caller has in memory anyway) is one piece and ~30 bytes a page (offsets, the page tree's
// kids), not the document. An empty result is one empty page.
arrow::Result<std::unique_ptr<PieceSource>> OpenAddressLabels(std::shared_ptr<arrow::Table> rows,
                                                              int pages_per_piece = 16);

// The whole document (the pieces of OpenAddressLabels, joined).
arrow::Result<std::string> AddressLabelsPdf(const arrow::RecordBatch& rows);

}  // namespace memberlake::query

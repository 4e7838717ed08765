// Address labels as a PDF: sheets of 3 x 8 labels of 70 x 36 mm on A4 (the common Dutch label
// sheet, e.g. Avery 3475), one member per label: korte_naam, straat, postcode and woonplaats,
// and land when it is not Nederland (in capitals, as the post asks for mail abroad). For the
// address-sticker reports. Text is set in Helvetica (a PDF base font, so nothing is embedded)
// with WinAnsi encoding: é, ë, ö and the other Dutch letters print as themselves, the ij
// ligature as "ij", anything else outside the encoding as '?'. Lines too wide for a label end
// in an ellipsis.
#pragma once

#include <string>

#include <arrow/record_batch.h>
#include <arrow/result.h>

namespace memberlake::query {

// Invalid naming the missing columns when `rows` lacks korte_naam, straat, postcode or
// woonplaats. An empty result is one empty page.
arrow::Result<std::string> AddressLabelsPdf(const arrow::RecordBatch& rows);

}  // namespace memberlake::query

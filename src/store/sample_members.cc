#include "store/sample_members.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include <arrow/api.h>

#include "model/date_text.h"
#include "model/text.h"

namespace memberlake::store {
namespace {

// splitmix64: tiny, fast, and the same on every platform (std:: distributions are not).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  int Uniform(int lo, int hi) { return lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1)); }
  double Unit() { return static_cast<double>(Next() >> 11) / 9007199254740992.0; }
  bool Chance(double p) { return Unit() < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& items) { return items[Next() % items.size()]; }
  // Index drawn with the given relative weights.
  size_t Weighted(const std::vector<double>& weights) {
    double total = 0;
    for (double w : weights) total += w;
    double x = Unit() * total;
    for (size_t i = 0; i < weights.size(); ++i) {
      if ((x -= weights[i]) < 0) return i;
    }
    return weights.size() - 1;
  }

 private:
  uint64_t state_;
};

struct Region {
  std::string name;
  double weight;
  std::vector<std::pair<int, int>> postcode_ranges;  // 4-digit NL ranges
  std::vector<std::string> towns;
};

const std::vector<Region>& Regions() {
  static const std::vector<Region> regions = {
      {"Noord-Holland", 13, {{1000, 1999}}, {"Amsterdam", "Haarlem", "Alkmaar", "Hoorn", "Zaandam", "Hilversum", "Purmerend", "Den Helder"}},
      {"Zuid-Holland", 9, {{2200, 3399}}, {"Rotterdam", "Den Haag", "Leiden", "Dordrecht", "Delft", "Gouda", "Zoetermeer", "Spijkenisse"}},
      {"Utrecht", 9, {{3400, 3999}}, {"Utrecht", "Amersfoort", "Zeist", "Nieuwegein", "Veenendaal", "Woerden", "Houten"}},
      {"Oost", 16, {{6500, 7699}, {8000, 8299}}, {"Nijmegen", "Arnhem", "Apeldoorn", "Enschede", "Zwolle", "Deventer", "Hengelo", "Doetinchem"}},
      {"Brabant/Zeeland", 17, {{4300, 5799}}, {"Eindhoven", "Tilburg", "Breda", "'s-Hertogenbosch", "Helmond", "Middelburg", "Vlissingen", "Oss"}},
      {"Groningen/Drenthe", 9, {{9300, 9999}, {7700, 7999}}, {"Groningen", "Assen", "Emmen", "Hoogeveen", "Meppel", "Veendam", "Delfzijl"}},
      {"Friesland", 7, {{8400, 9299}}, {"Leeuwarden", "Drachten", "Sneek", "Heerenveen", "Harlingen", "Dokkum"}},
      {"Limburg", 8, {{5800, 6499}}, {"Maastricht", "Venlo", "Heerlen", "Roermond", "Sittard", "Weert", "Kerkrade"}},
      {"Duitsland", 2, {}, {"Kleve", "Emmerich", "Aachen", "Gronau", "Nordhorn", "Goch"}},
      {"Overig", 1, {{1000, 9999}}, {"Almere", "Lelystad", "Emmeloord", "Dronten"}},
  };
  return regions;
}

const std::vector<std::string> kMaleNames = {
    "Jan", "Piet", "Kees", "Henk", "Gerrit", "Wim", "Peter", "Hans", "Johan", "Marco", "Erik", "Rob",
    "Frank", "Ronald", "André", "Richard", "Martin", "Dennis", "Patrick", "Sander", "Jeroen", "Bas",
    "Ruud", "Theo", "Bert", "Ad", "Arie", "Cor", "Dirk", "Gert-Jan", "Harm", "Jos", "Klaas", "Leo",
    "Marcel", "Nico", "René", "Sjoerd", "Ton", "Wouter", "Bülent", "Joël", "Jurriën"};
const std::vector<std::string> kFemaleNames = {
    "Anja", "Monique", "Sandra", "Ingrid", "Marja", "Petra", "Linda", "Karin", "Esther", "Wilma",
    "Anneke", "Mirjam", "Yvonne", "Ellen", "Nicole", "Saskia", "Marieke", "Zoë", "Geneviève", "Noëlle"};
const std::vector<std::string> kTussenvoegsels = {"van", "de", "van der", "van den", "van de", "ter", "'t", "den", "te", "in 't"};
const std::vector<std::string> kSurnames = {
    "Jong", "Jansen", "Vries", "Berg", "Bakker", "Visser", "Smit", "Meijer", "Boer", "Mulder",
    "Groot", "Bos", "Vos", "Peters", "Hendriks", "Leeuwen", "Dekker", "Brouwer", "Wit", "Dijk",
    "Graaf", "Koster", "Linden", "Maas", "Willems", "Kuipers", "Veen", "Vermeulen", "Hoekstra", "Kok",
    "Schouten", "Jacobs", "Post", "Kramer", "Huisman", "Wal", "Prins", "Blom", "Hoek", "Dam",
    "Smits", "Gerritsen", "Verhoeven", "Timmermans", "Hermans", "Postma", "Molenaar", "Zwart",
    "Jonker", "Veenstra", "Scholten", "Kooij", "Haan", "Wijk", "Brink", "Heuvel", "Beek", "Sluis",
    "Öztürk", "IJsselmuiden", "Dijkstra", "Bosch", "Vliet"};
const std::vector<std::string> kStreets = {
    "Dorpsstraat", "Kerkstraat", "Molenweg", "Stationsweg", "Schoolstraat", "Julianastraat",
    "Beatrixlaan", "Wilhelminastraat", "Nieuwstraat", "Marktplein", "Lindenlaan", "Eikenlaan",
    "Parallelweg", "Industrieweg", "Havenstraat", "Kastanjelaan", "Prins Bernhardlaan", "Hoofdstraat"};
const std::vector<std::string> kMailDomains = {"gmail.com", "hotmail.com", "ziggo.nl", "kpnmail.nl", "outlook.com", "planet.nl", "xs4all.nl", "home.nl"};
const std::vector<std::string> kHarleyTypes = {"Fat Boy", "Road King", "Street Glide", "Sportster 1200", "Softail Standard", "Electra Glide", "Heritage Classic", "Low Rider", "Road Glide", "Breakout", "Dyna Super Glide", "Pan America"};
const std::vector<std::string> kIndianTypes = {"Scout", "Chief", "Chieftain", "Springfield", "FTR 1200"};
const std::vector<std::string> kBuellTypes = {"XB12S Lightning", "S1 White Lightning", "Ulysses XB12X"};
const std::vector<std::string> kStatus = {"Actief", "Opgezegd", "wachtRegio", "wachtBetaling", "Aangemeld", "Geschorst", "HdcnAccount", "Club", "Sponsor", "Overig"};
const std::vector<double> kStatusWeights = {80, 10, 1.5, 2, 2, 0.5, 1.5, 1, 1, 0.5};
const std::vector<std::string> kLidmaatschap = {"Gewoon lid", "Gezins lid", "Donateur", "Gezins donateur", "Erelid", "Overig"};
const std::vector<double> kLidmaatschapWeights = {70, 12, 10, 3, 1, 4};
const std::vector<std::string> kWieWatWaar = {"Eerder lid", "Facebook", "Familie", "Harleydag", "Instagram", "Lid H-DCN", "Internet", "Openingsrit", "Vrienden", "Website H-DCN", "The Young Ones", "Bigtwin Bike Expo"};
const std::vector<std::string> kBanks = {"INGB", "RABO", "ABNA", "SNSB", "TRIO", "ASNB", "KNAB", "BUNQ"};

std::string Num(int64_t value, int width = 0) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  (void)ec;
  std::string out(buf, end);
  if (static_cast<int>(out.size()) < width) out.insert(0, static_cast<size_t>(width) - out.size(), '0');
  return out;
}

std::string IsoDate(model::CivilDate d) { return Num(d.year, 4) + "-" + Num(d.month, 2) + "-" + Num(d.day, 2); }
std::string DutchDate(model::CivilDate d) { return Num(d.day, 2) + "-" + Num(d.month, 2) + "-" + Num(d.year, 4); }

std::string MailName(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c)) out.push_back(static_cast<char>(std::tolower(c)));
    else if (c >= 0x80) continue;  // drop accents' UTF-8 bytes: e-mail local parts stay ASCII
  }
  return out;
}

// NL IBAN with correct check digits: NLkk BANK 0123456789.
std::string DutchIban(Random& rng) {
  std::string bank = rng.Pick(kBanks);
  std::string account;
  for (int i = 0; i < 10; ++i) account.push_back(static_cast<char>('0' + rng.Uniform(0, 9)));
  std::string rearranged = bank + account + "NL00";
  int remainder = 0;
  for (char c : rearranged) {
    if (std::isdigit(static_cast<unsigned char>(c))) remainder = (remainder * 10 + (c - '0')) % 97;
    else remainder = (remainder * 100 + (c - 'A' + 10)) % 97;
  }
  return "NL" + Num(98 - remainder, 2) + bank + account;
}

class SampleReader : public arrow::RecordBatchReader {
 public:
  SampleReader(std::shared_ptr<const model::FieldRegistry> registry, SampleOptions options)
      : registry_(std::move(registry)), options_(options), rng_(options.seed) {
    // Stored fields, then the calculated ones the generator writes stale copies of.
    arrow::FieldVector fields = registry_->raw_schema()->fields();
    for (const auto& field : registry_->stored_fields()) names_.push_back(field.name);
    for (const auto& field : registry_->calculated_fields()) {
      if (std::find(kColumns.begin(), kColumns.end(), field.name) == kColumns.end()) continue;
      names_.push_back(field.name);
      fields.push_back(arrow::field(field.name, arrow::utf8()));
    }
    schema_ = arrow::schema(std::move(fields));
  }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    int64_t rows = std::min(options_.batch_rows, options_.members - produced_);
    if (rows <= 0) return arrow::Status::OK();
    const auto& fields = names_;
    std::vector<arrow::StringBuilder> builders(fields.size());
    for (auto& b : builders) ARROW_RETURN_NOT_OK(b.Reserve(rows));
    std::vector<int> slot(fields.size(), -1);  // output column -> generator column
    for (size_t i = 0; i < fields.size(); ++i) {
      for (size_t k = 0; k < kColumns.size(); ++k) {
        if (fields[i] == kColumns[k]) slot[i] = static_cast<int>(k);
      }
    }
    std::vector<std::optional<std::string>> member(kColumns.size());
    for (int64_t r = 0; r < rows; ++r) {
      MakeMember(produced_ + r, &member);
      for (size_t i = 0; i < fields.size(); ++i) {
        const auto* value = slot[i] >= 0 ? &member[static_cast<size_t>(slot[i])] : nullptr;
        if (value != nullptr && value->has_value()) {
          ARROW_RETURN_NOT_OK(builders[i].Append(**value));
        } else {
          ARROW_RETURN_NOT_OK(builders[i].AppendNull());
        }
      }
    }
    arrow::ArrayVector arrays;
    for (auto& b : builders) {
      ARROW_ASSIGN_OR_RAISE(auto array, b.Finish());
      arrays.push_back(std::move(array));
    }
    produced_ += rows;
    *out = arrow::RecordBatch::Make(schema(), rows, std::move(arrays));
    return arrow::Status::OK();
  }

 private:
  enum Column {
    kMemberId, kLidnummer, kVoornaam, kTussenvoegsel, kAchternaam, kInitialen, kGeboortedatum, kGeslacht,
    kEmail, kTelefoon, kMinderjarigNaam, kStraat, kPostcode, kWoonplaats, kLand, kStatusCol, kLidmaatschapCol,
    kRegio, kClubblad, kNieuwsbrief, kPrivacy, kWiewatwaar, kIngangsdatum, kTijdstempel, kMotormerk, kMotortype,
    kBouwjaar, kKenteken, kBankrekeningnummer, kBetaalwijze, kDatumOndertekening, kWelcomePackStatus,
    kWelcomePackSentDate, kWelcomePackSentBy, kNotities, kCreatedAt, kUpdatedAt,
    // stale copies of calculated fields, as the club's edit screen writes them back
    kKorteNaam, kLeeftijd, kVerjaardag, kJarenLid, kAanmeldingsjaar
  };
  inline static const std::vector<std::string> kColumns = {
      "member_id", "lidnummer", "voornaam", "tussenvoegsel", "achternaam", "initialen", "geboortedatum",
      "geslacht", "email", "telefoon", "minderjarigNaam", "straat", "postcode", "woonplaats", "land", "status",
      "lidmaatschap", "regio", "clubblad", "nieuwsbrief", "privacy", "wiewatwaar", "ingangsdatum", "tijdstempel",
      "motormerk", "motortype", "bouwjaar", "kenteken", "bankrekeningnummer", "betaalwijze",
      "datum_ondertekening", "welcome_pack_status", "welcome_pack_sent_date", "welcome_pack_sent_by", "notities",
      "created_at", "updated_at", "korte_naam", "leeftijd", "verjaardag", "jaren_lid", "aanmeldingsjaar"};

  // (column, canonical value, the legacy spelling the club's table still holds)
  inline static const std::vector<std::tuple<Column, std::string, std::string>> kLegacySpellings = {
      {kRegio, "Overig", "Other"}, {kRegio, "Groningen/Drenthe", "Groningen/Drente"},
      {kRegio, "Brabant/Zeeland", "Noord-Brabant/Zeeland"}, {kGeslacht, "M", "Man"}, {kGeslacht, "V", "Vrouw"},
      {kLidmaatschapCol, "Donateur", "Donateur zonder motor"}, {kWiewatwaar, "Eerder lid", "Eerder lid van de H-DCN"},
      {kStatusCol, "Aangemeld", "Nieuwe aanmelding"}, {kStatusCol, "Opgezegd", "Heeft opgezegd"},
      {kStatusCol, "Actief", "active"}};

  model::CivilDate DateBetween(int32_t from_days, int32_t to_days) {
    return model::CivilFromDays(from_days + static_cast<int32_t>(rng_.Next() % static_cast<uint64_t>(to_days - from_days + 1)));
  }

  void MakeMember(int64_t index, std::vector<std::optional<std::string>>* out) {
    auto& m = *out;
    for (auto& v : m) v.reset();
    const auto ref = options_.reference;
    const int32_t ref_days = model::DaysFromCivil(ref);

    char uuid[40];
    uint64_t hi = rng_.Next(), lo = rng_.Next();
    std::snprintf(uuid, sizeof uuid, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xfff),
                  static_cast<unsigned>(((lo >> 48) & 0x3fff) | 0x8000),
                  static_cast<unsigned long long>(lo & 0xffffffffffffULL));
    m[kMemberId] = uuid;
    m[kLidnummer] = Num(10000 + index);

    bool male = rng_.Chance(0.85);
    const std::string& first = rng_.Pick(male ? kMaleNames : kFemaleNames);
    m[kVoornaam] = first;
    std::string tussen = rng_.Chance(0.3) ? rng_.Pick(kTussenvoegsels) : "";
    if (!tussen.empty()) m[kTussenvoegsel] = tussen;
    const std::string& last = rng_.Pick(kSurnames);
    m[kAchternaam] = last;
    m[kInitialen] = first.substr(0, 1) + ".";
    m[kGeslacht] = male ? "M" : (rng_.Chance(0.97) ? "V" : "X");

    // Ages 20..85, peaking 50-65 (sum of uniforms).
    int age = std::clamp((rng_.Uniform(18, 88) + rng_.Uniform(35, 75) + rng_.Uniform(45, 70)) / 3, 18, 90);
    int32_t born = ref_days - age * 365 - rng_.Uniform(0, 364);
    model::CivilDate birth = model::CivilFromDays(born);
    m[kGeboortedatum] = IsoDate(birth);

    std::string domain = rng_.Pick(kMailDomains);
    m[kEmail] = MailName(first) + "." + MailName(tussen) + MailName(last) + Num(index % 997) + "@" + domain;
    m[kTelefoon] = "06-" + Num(10000000 + static_cast<int64_t>(rng_.Next() % 90000000));

    static const std::vector<double> weights = [] {
      std::vector<double> w;
      for (const auto& r : Regions()) w.push_back(r.weight);
      return w;
    }();
    const Region& region = Regions()[rng_.Weighted(weights)];
    m[kRegio] = region.name;
    m[kStraat] = rng_.Pick(kStreets) + " " + Num(rng_.Uniform(1, 250));
    m[kWoonplaats] = rng_.Pick(region.towns);
    if (region.postcode_ranges.empty()) {
      m[kPostcode] = Num(rng_.Uniform(40000, 49999));
      m[kLand] = "Duitsland";
    } else {
      const auto& range = rng_.Pick(region.postcode_ranges);
      std::string letters = {static_cast<char>('A' + rng_.Uniform(0, 25)), static_cast<char>('A' + rng_.Uniform(0, 25))};
      m[kPostcode] = Num(rng_.Uniform(range.first, range.second)) + " " + letters;
      m[kLand] = "Nederland";
    }

    const std::string& status = kStatus[rng_.Weighted(kStatusWeights)];
    m[kStatusCol] = status;
    // The club's accounts, clubs and sponsors have no member number.
    if (status == "HdcnAccount" || status == "Club" || status == "Sponsor") m[kLidnummer].reset();
    const std::string& lidmaatschap = kLidmaatschap[rng_.Weighted(kLidmaatschapWeights)];
    m[kLidmaatschapCol] = lidmaatschap;
    double clubblad = rng_.Unit();
    m[kClubblad] = clubblad < 0.55 ? "Digitaal" : clubblad < 0.9 ? "Papier" : "Geen";
    m[kNieuwsbrief] = rng_.Chance(0.7) ? "Ja" : "Nee";
    m[kPrivacy] = rng_.Chance(0.8) ? "Ja" : "Nee";
    m[kWiewatwaar] = rng_.Pick(kWieWatWaar);

    // Joined between age 18 and the reference date, more often recently.
    int32_t earliest = std::max(born + 18 * 365, model::DaysFromCivil({1980, 1, 1}));
    if (earliest > ref_days) earliest = ref_days - 30;
    double skew = rng_.Unit();
    int32_t joined = earliest + static_cast<int32_t>((ref_days - earliest) * (1 - skew * skew));
    model::CivilDate join_date = model::CivilFromDays(std::min(joined, ref_days));
    m[kIngangsdatum] = IsoDate(join_date);
    if (!(join_date.year < 2005 && rng_.Chance(0.5))) {
      m[kTijdstempel] = IsoDate(join_date) + "T" + Num(rng_.Uniform(8, 22), 2) + ":" + Num(rng_.Uniform(0, 59), 2) +
                        ":" + Num(rng_.Uniform(0, 59), 2) + "Z";
    }
    m[kDatumOndertekening] = IsoDate(join_date);

    if ((lidmaatschap == "Gewoon lid" || lidmaatschap == "Gezins lid") && rng_.Chance(0.85)) {
      double brand = rng_.Unit();
      const char* merk = brand < 0.86 ? "Harley-Davidson" : brand < 0.95 ? "Indian" : brand < 0.98 ? "Buell" : "Eigenbouw";
      m[kMotormerk] = merk;
      const auto& types = brand < 0.86 ? kHarleyTypes : brand < 0.95 ? kIndianTypes : kBuellTypes;
      m[kMotortype] = brand < 0.98 ? rng_.Pick(types) : "Custom chopper";
      m[kBouwjaar] = Num(rng_.Uniform(1975, ref.year));
      m[kKenteken] = std::string{static_cast<char>('A' + rng_.Uniform(0, 25)), static_cast<char>('A' + rng_.Uniform(0, 25))} +
                     "-" + Num(rng_.Uniform(10, 99)) + "-" +
                     std::string{static_cast<char>('A' + rng_.Uniform(0, 25)), static_cast<char>('A' + rng_.Uniform(0, 25))};
    }
    if (rng_.Chance(0.9)) {
      m[kBankrekeningnummer] = DutchIban(rng_);
      m[kBetaalwijze] = rng_.Chance(0.8) ? "Incasso" : "Overmaking";
    } else {
      m[kBetaalwijze] = "Overmaking";
    }
    bool recent = ref_days - joined < 120;
    m[kWelcomePackStatus] = recent ? (rng_.Chance(0.5) ? "pending" : "sent") : (rng_.Chance(0.7) ? "sent" : "not_applicable");
    if (*m[kWelcomePackStatus] == "sent") {
      m[kWelcomePackSentDate] = IsoDate(model::CivilFromDays(std::min(joined + rng_.Uniform(3, 40), ref_days)));
      m[kWelcomePackSentBy] = rng_.Chance(0.5) ? "ledenadministratie" : "secretaris";
    }
    if (age < 21 && rng_.Chance(0.5)) m[kMinderjarigNaam] = rng_.Pick(kMaleNames) + " " + last;
    if (rng_.Chance(0.05)) m[kNotities] = rng_.Chance(0.5) ? "Belt liever dan mailt" : "Rijdt ook mee als toercommissie";
    m[kCreatedAt] = *m[kIngangsdatum] + "T12:00:00.000Z";
    m[kUpdatedAt] = IsoDate(ref) + "T09:00:00.000Z";
    if (rng_.Chance(0.3)) {
      // Saved through the club's edit screen some time ago: calculated fields as they were then.
      m[kKorteNaam] = first + " " + last;
      m[kLeeftijd] = Num(std::max(age - 1, 0));
      m[kVerjaardag] = std::string(model::DutchMonthName(birth.month)) + " " + Num(birth.day);
      m[kJarenLid] = Num(std::max(0, model::WholeYearsBetween(join_date, ref) - 1));
      m[kAanmeldingsjaar] = Num(join_date.year);
    }

    double dirt = rng_.Unit();
    if (dirt < options_.broken_fraction) {
      Break(&m);
    } else if (dirt < options_.broken_fraction + options_.repairable_fraction) {
      Soil(&m, join_date, birth);
    }
  }

  // A legacy spelling or one of the club's real forms that the transform repairs
  // (domain.md, "The live table as it really is").
  void Soil(std::vector<std::optional<std::string>>* out, model::CivilDate joined, model::CivilDate birth) {
    auto& m = *out;
    const std::string day = Num(birth.day), month = Num(birth.month), year = Num(birth.year, 4);
    switch (rng_.Uniform(0, 19)) {
      case 0: {
        static const std::vector<std::pair<std::string, std::string>> variants = {
            {"Noord-Holland", "noord holland"}, {"Noord-Holland", "N-Holland"}, {"Zuid-Holland", "zuid-holland"},
            {"Groningen/Drenthe", "Groningen / Drenthe"}, {"Brabant/Zeeland", "BRABANT/ZEELAND"},
            {"Friesland", "Fryslân"}, {"Oost", "oost"}, {"Utrecht", "utrecht "}};
        for (const auto& [canonical, variant] : variants) {
          if (*m[kRegio] == canonical) m[kRegio] = variant;
        }
        if (*m[kRegio] == "Limburg") m[kRegio] = "limburg";
        break;
      }
      case 1: m[kGeboortedatum] = DutchDate(birth); break;
      case 2: m[kIngangsdatum] = DutchDate(joined); break;
      case 3: m[kStatusCol] = model::AsciiLower(*m[kStatusCol]); break;
      case 4: m[kLidmaatschapCol] = model::AsciiLower(*m[kLidmaatschapCol]); break;
      case 5: m[kClubblad] = model::AsciiLower(*m[kClubblad]); break;
      case 6:
        if (*m[kLand] == "Nederland") {
          std::string pc = *m[kPostcode];
          m[kPostcode] = model::AsciiLower(pc.substr(0, 4) + pc.substr(5));
        }
        break;
      case 7: m[kGeboortedatum] = day + "/" + month + "/" + year; break;
      case 8: m[kGeboortedatum] = Num(birth.day, 2) + "-" + Num(birth.month, 2) + "-" + Num(birth.year % 100, 2); break;
      case 9: {
        std::string name(model::DutchMonthName(birth.month));
        m[kGeboortedatum] = day + " " + (rng_.Chance(0.5) ? name : name.substr(0, 3) + ".") + " " + year;
        break;
      }
      case 10: m[kGeboortedatum] = day + "." + month + "." + year; break;
      case 11:  // ingangsdatum once filled from tijdstempel as is
        if (m[kTijdstempel]) m[kIngangsdatum] = m[kTijdstempel];
        break;
      case 12:  // the workflow's naive timestamps with microseconds
        m[kTijdstempel] = IsoDate(joined) + "T" + Num(rng_.Uniform(8, 22), 2) + ":15:30." + Num(rng_.Uniform(0, 999999), 6);
        break;
      case 13: m[kTijdstempel] = IsoDate(joined) + "T10:15:30.123456+00:00"; break;
      case 14:  // spreadsheet display text with a one-digit hour
        m[kTijdstempel] = Num(joined.day) + "-" + Num(joined.month) + "-" + Num(joined.year) + " " +
                          Num(rng_.Uniform(7, 9)) + ":05:00";
        break;
      case 15:  // legacy spellings, where the member has the value they stand for
        for (const auto& [column, canonical, legacy] : kLegacySpellings) {
          if (m[column] && *m[column] == canonical) m[column] = legacy;
        }
        break;
      case 16:  // the spreadsheet's donors: "1234 Donateur", a few "Donateur" alone
        if (m[kLidnummer]) m[kLidnummer] = rng_.Chance(0.85) ? *m[kLidnummer] + " Donateur" : "Donateur";
        break;
      case 17: m[kEmail] = "test@h-dcn.nl"; break;  // the club's placeholder address
      case 18: m[kEmail] = ""; break;
      default: m[kLidnummer] = ""; break;
    }
  }

  // A problem the transform must quarantine.
  void Break(std::vector<std::optional<std::string>>* out) {
    auto& m = *out;
    switch (rng_.Uniform(0, 4)) {
      case 0: m[kAchternaam].reset(); break;
      case 1: m[kLidnummer] = "-" + m[kLidnummer].value_or("12"); break;
      case 2: m[kGeboortedatum] = "31-02-1975"; break;
      case 3: m[kRegio] = "Atlantis"; break;
      default: m[kStatusCol] = "Misschien"; break;
    }
  }

  std::shared_ptr<const model::FieldRegistry> registry_;
  std::vector<std::string> names_;  // output columns
  std::shared_ptr<arrow::Schema> schema_;
  SampleOptions options_;
  Random rng_;
  int64_t produced_ = 0;
};

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> MakeSampleMembers(
    std::shared_ptr<const model::FieldRegistry> registry, const SampleOptions& options) {
  if (options.members < 0) return arrow::Status::Invalid("members must not be negative");
  if (options.batch_rows <= 0) return arrow::Status::Invalid("batch_rows must be positive");
  return std::make_shared<SampleReader>(std::move(registry), options);
}

}  // namespace memberlake::store

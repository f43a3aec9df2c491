"""The DATEV EXTF formats we write, as data: the header, the Buchungsstapel (category 21, format
version 13) and the Debitoren/Kreditoren master data (category 16, format version 5).

Every column has a kind (text fields are quoted, numbers are not) and the pattern its content must
match, from DATEV's published format description (developer.datev.de, "DATEV-Format"). The writer
and the validator both read these tables, so what is written and what is checked cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER_VERSION = 700
BOOKINGS = (21, "Buchungsstapel", 13)
PARTIES = (16, "Debitoren/Kreditoren", 5)
ENCODING = "cp1252"
NEWLINE = "\r\n"
ORIGIN = "LM"  # Herkunft: two letters naming the exporting program (DATEV replaces it by SV on import)
EXPORTED_BY = "ledger-mcp"

AMOUNT = r"\d{1,10},\d{2}"
DAY_MONTH_YEAR = r"(0[1-9]|[12]\d|3[01])(0[1-9]|1[0-2])\d{4}"
DOCUMENT_FIELD = r"[A-Za-z0-9$&%*+\-/]"  # Belegfeld 1/2: letters without umlauts, digits, $ & % * + - /


@dataclass(frozen=True)
class Column:
    """name: the column heading of row 2. text: quoted in the file. pattern: what a non-empty value
    must match (the whole value). required: may not be empty."""

    name: str
    text: bool
    pattern: str = r".*"
    required: bool = False

    def check(self, value: str) -> str | None:
        """Why `value` (unquoted) is not allowed here, or None."""
        if not value:
            return "is required" if self.required else None
        if not re.fullmatch(self.pattern, value, flags=re.DOTALL):
            return f"{value!r} does not match {self.pattern}"
        if "\r" in value or "\n" in value:
            return "contains a line break"
        return None


def _t(name: str, pattern: str = r".*", required: bool = False) -> Column:
    return Column(name, True, pattern, required)


def _n(name: str, pattern: str = r"\d+", required: bool = False) -> Column:
    return Column(name, False, pattern, required)


def _pairs(kind: str, count: int) -> list[Column]:
    return [c for i in range(1, count + 1) for c in (_t(f"{kind} - Art {i}", r".{0,20}"),
                                                       _t(f"{kind} - Inhalt {i}", r".{0,210}"))]


BOOKING_COLUMNS: tuple[Column, ...] = (
    _n("Umsatz (ohne Soll/Haben-Kz)", AMOUNT, True),
    _t("Soll/Haben-Kennzeichen", r"[SH]", True),
    _t("WKZ Umsatz", r"[A-Z]{3}"),
    _n("Kurs", r"\d{1,4},\d{2,6}"),
    _n("Basis-Umsatz", AMOUNT),
    _t("WKZ Basis-Umsatz", r"[A-Z]{3}"),
    _n("Konto", r"\d{1,9}", True),
    _n("Gegenkonto (ohne BU-Schlüssel)", r"\d{1,9}", True),
    _t("BU-Schlüssel", r"\d{4}"),
    _n("Belegdatum", r"(0[1-9]|[12]\d|3[01])(0[1-9]|1[0-2])", True),
    _t("Belegfeld 1", DOCUMENT_FIELD + "{1,36}"),
    _t("Belegfeld 2", DOCUMENT_FIELD + "{1,12}"),
    _n("Skonto", r"\d{1,8},\d{2}"),
    _t("Buchungstext", r".{0,60}"),
    _n("Postensperre", r"[01]"),
    _t("Diverse Adressnummer", r"\w{0,9}"),
    _n("Geschäftspartnerbank", r"\d{3}"),
    _n("Sachverhalt", r"\d{2}"),
    _n("Zinssperre", r"[01]"),
    _t("Beleglink", r".{0,210}"),
    *_pairs("Beleginfo", 8),
    _t("KOST1 - Kostenstelle", r".{0,36}"),
    _t("KOST2 - Kostenstelle", r".{0,36}"),
    _n("Kost-Menge", r"\d{1,12},\d{1,4}"),
    _t("EU-Land u. UStID (Bestimmung)", r".{0,15}"),
    _n("EU-Steuersatz (Bestimmung)", r"\d{1,2},\d{2}"),
    _t("Abw. Versteuerungsart", r"[IKPS]"),
    _n("Sachverhalt L+L", r"[1-9]\d{0,2}"),
    _n("Funktionsergänzung L+L", r"[1-9]\d{0,2}"),
    _n("BU 49 Hauptfunktionstyp", r"\d"),
    _n("BU 49 Hauptfunktionsnummer", r"\d{1,2}"),
    _n("BU 49 Funktionsergänzung", r"\d{1,3}"),
    *_pairs("Zusatzinformation", 20),
    _n("Stück", r"\d{1,8}"),
    _n("Gewicht", r"\d{1,8},\d{2}"),
    _n("Zahlweise", r"\d{1,2}"),
    _t("Forderungsart", r".{0,10}"),
    _n("Veranlagungsjahr", r"\d{4}"),
    _n("Zugeordnete Fälligkeit", DAY_MONTH_YEAR),
    _n("Skontotyp", r"[12]"),
    _t("Auftragsnummer", r".{0,30}"),
    _t("Buchungstyp", r"AA|AG|AV|SR|SU|SG|SO"),
    _n("USt-Schlüssel (Anzahlungen)", r"\d{1,2}"),
    _t("EU-Mitgliedstaat (Anzahlungen)", r"[A-Z]{2}"),
    _n("Sachverhalt L+L (Anzahlungen)", r"[1-9]\d{0,2}"),
    _n("EU-Steuersatz (Anzahlungen)", r"\d{1,2},\d{2}"),
    _n("Erlöskonto (Anzahlungen)", r"\d{1,9}"),
    _t("Herkunft-Kz", r"[A-Z]{2}"),
    _t("Buchungs GUID", r".{0,36}"),
    _n("KOST-Datum", DAY_MONTH_YEAR),
    _t("SEPA-Mandatsreferenz", r".{0,35}"),
    _n("Skontosperre", r"[01]"),
    _t("Gesellschaftername", r".{0,76}"),
    _n("Beteiligtennummer", r"\d{1,4}"),
    _t("Identifikationsnummer", r".{0,11}"),
    _t("Zeichnernummer", r".{0,20}"),
    _n("Postensperre bis", DAY_MONTH_YEAR),
    _t("Bezeichnung SoBil-Sachverhalt", r".{0,30}"),
    _n("Kennzeichen SoBil-Buchung", r"\d{1,2}"),
    _n("Festschreibung", r"[01]"),
    _n("Leistungsdatum", DAY_MONTH_YEAR),
    _n("Datum Zuord. Steuerperiode", DAY_MONTH_YEAR),
    _n("Fälligkeit", DAY_MONTH_YEAR),
    _t("Generalumkehr (GU)", r"[01]"),
    _n("Steuersatz", r"\d{1,2},\d{2}"),
    _t("Land", r"[A-Z]{2}"),
    _t("Abrechnungsreferenz", r".{0,50}"),
    _n("BVV-Position", r"[1-5]"),
    _t("EU-Land u. UStID (Ursprung)", r".{0,15}"),
    _n("EU-Steuersatz (Ursprung)", r"\d{1,2},\d{2}"),
    _n("Abw. Skontokonto", r"\d{1,9}"),
)
assert len(BOOKING_COLUMNS) == 125


def _bank(i: int) -> list[Column]:
    return [_t(f"Bankleitzahl {i}", r"\d{0,8}"), _t(f"Bankbezeichnung {i}", r".{0,30}"),
            _t(f"Bank-Kontonummer {i}", r"\d{0,10}"), _t(f"Länderkennzeichen {i}", r"[A-Z]{2}"),
            _t(f"IBAN-Nr. {i}", r"[A-Z]{2}\d{2}[A-Z0-9]{1,30}"), _t("Leerfeld", r""),
            _t(f"SWIFT-Code {i}", r"[A-Z0-9]{8}([A-Z0-9]{3})?"), _t(f"Abw. Kontoinhaber {i}", r".{0,70}"),
            _t(f"Kennz. Hauptbankverb. {i}", r"[01]"), _n(f"Bankverbindung {i} Gültig von", DAY_MONTH_YEAR),
            _n(f"Bankverbindung {i} Gültig bis", DAY_MONTH_YEAR)]


_ADDRESS = ("Adressart", "Straße", "Postfach", "Postleitzahl", "Ort", "Land", "Versandzusatz", "Adresszusatz")

PARTY_COLUMNS: tuple[Column, ...] = (
    _n("Konto", r"\d{5,9}", True),
    _t("Name (Adressatentyp Unternehmen)", r".{0,50}"),
    _t("Unternehmensgegenstand", r".{0,50}"),
    _t("Name (Adressatentyp natürl. Person)", r".{0,30}"),
    _t("Vorname (Adressatentyp natürl. Person)", r".{0,30}"),
    _t("Name (Adressatentyp keine Angabe)", r".{0,50}"),
    _t("Adressatentyp", r"[012]"),
    _t("Kurzbezeichnung", r".{0,15}"),
    _t("EU-Mitgliedstaat", r"[A-Z]{2}"),
    _t("EU-USt-IdNr.", r"[A-Z0-9+*]{2,13}"),
    _t("Anrede", r".{0,30}"), _t("Titel/Akad.Grad", r".{0,25}"), _t("Adelstitel", r".{0,15}"),
    _t("Namensvorsatz", r".{0,14}"),
    *[_t(name, r".{0,36}") for name in _ADDRESS],
    _t("Abweichende Anrede", r".{0,30}"), _t("Abw. Zustellbezeichnung 1", r".{0,50}"),
    _t("Abw. Zustellbezeichnung 2", r".{0,36}"), _n("Kennz. Korrespondenzadresse", r"1"),
    _n("Adresse Gültig von", DAY_MONTH_YEAR), _n("Adresse Gültig bis", DAY_MONTH_YEAR),
    *[_t(name, r".{0,60}") for name in ("Telefon", "Bemerkung (Telefon)", "Telefon Geschäftsleitung",
                                        "Bemerkung (Telefon GL)", "E-Mail", "Bemerkung (E-Mail)", "Internet",
                                        "Bemerkung (Internet)", "Fax", "Bemerkung (Fax)", "Sonstige",
                                        "Bemerkung (Sonstige)")],
    *[c for i in range(1, 6) for c in _bank(i)],
    _t("Leerfeld", r""), _t("Briefanrede", r".{0,100}"), _t("Grußformel", r".{0,50}"),
    _t("Kundennummer", r".{0,15}"), _t("Steuernummer", r".{0,20}"), _n("Sprache", r"\d{1,2}"),
    _t("Ansprechpartner", r".{0,40}"), _t("Vertreter", r".{0,40}"), _t("Sachbearbeiter", r".{0,40}"),
    _n("Diverse-Konto", r"[01]"), _n("Ausgabeziel", r"[1-4]"), _n("Währungssteuerung", r"[02]"),
    _n("Kreditlimit (Debitor)", r"\d{1,13}"), _n("Zahlungsbedingung", r"\d{1,3}"),
    _n("Fälligkeit in Tagen (Debitor)", r"\d{1,3}"), _n("Skonto in Prozent (Debitor)", r"\d{1,2},\d{2}"),
    _n("Kreditoren-Ziel 1 (Tage)", r"\d{1,3}"), _n("Kreditoren-Skonto 1 (%)", r"\d{1,2},\d{2}"),
    _n("Kreditoren-Ziel 2 (Tage)", r"\d{1,3}"), _n("Kreditoren-Skonto 2 (%)", r"\d{1,2},\d{2}"),
    _n("Kreditoren-Ziel 3 Brutto (Tage)", r"\d{1,3}"), _n("Kreditoren-Ziel 4 (Tage)", r"\d{1,3}"),
    _n("Kreditoren-Skonto 4 (%)", r"\d{1,2},\d{2}"), _n("Kreditoren-Ziel 5 (Tage)", r"\d{1,3}"),
    _n("Kreditoren-Skonto 5 (%)", r"\d{1,2},\d{2}"), _n("Mahnung", r"\d"), _n("Kontoauszug", r"\d"),
    _n("Mahntext 1", r"\d"), _n("Mahntext 2", r"\d"), _n("Mahntext 3", r"\d"), _n("Kontoauszugstext", r"\d"),
    _n("Mahnlimit Betrag", r"\d{1,10},\d{2}"), _n("Mahnlimit %", r"\d{1,2},\d{2}"), _n("Zinsberechnung", r"\d"),
    _n("Mahnzinssatz 1", r"\d{1,2},\d{2}"), _n("Mahnzinssatz 2", r"\d{1,2},\d{2}"),
    _n("Mahnzinssatz 3", r"\d{1,2},\d{2}"), _t("Lastschrift", r".{0,1}"), _t("Leerfeld", r""),
    _n("Mandantenbank", r"\d{1,4}"), _t("Zahlungsträger", r".{0,1}"),
    *[_t(f"Indiv. Feld {i}", r".{0,40}") for i in range(1, 16)],
    _t("Abweichende Anrede (Rechnungsadresse)", r".{0,30}"),
    *[_t(f"{name} (Rechnungsadresse)", r".{0,36}") for name in _ADDRESS],
    _t("Abw. Zustellbezeichnung 1 (Rechnungsadresse)", r".{0,50}"),
    _t("Abw. Zustellbezeichnung 2 (Rechnungsadresse)", r".{0,36}"),
    _n("Adresse Gültig von (Rechnungsadresse)", DAY_MONTH_YEAR),
    _n("Adresse Gültig bis (Rechnungsadresse)", DAY_MONTH_YEAR),
    *[c for i in range(6, 11) for c in _bank(i)],
    _t("Nummer Fremdsystem", r".{0,15}"), _n("Insolvent", r"[01]"),
    *[_t(f"SEPA-Mandatsreferenz {i}", r".{0,35}") for i in range(1, 11)],
    _n("Verknüpftes OPOS-Konto", r"\d{1,9}"), _n("Mahnsperre bis", DAY_MONTH_YEAR),
    _n("Lastschriftsperre bis", DAY_MONTH_YEAR), _n("Zahlungssperre bis", DAY_MONTH_YEAR),
    _n("Gebührenberechnung", r"\d"), _n("Mahngebühr 1", r"\d{1,10},\d{2}"), _n("Mahngebühr 2", r"\d{1,10},\d{2}"),
    _n("Mahngebühr 3", r"\d{1,10},\d{2}"), _n("Pauschalenberechnung", r"\d"),
    _n("Verzugspauschale 1", r"\d{1,10},\d{2}"), _n("Verzugspauschale 2", r"\d{1,10},\d{2}"),
    _n("Verzugspauschale 3", r"\d{1,10},\d{2}"), _t("Alternativer Suchname", r".{0,50}"), _n("Status", r"[01]"),
    _n("Anschrift manuell geändert (Korrespondenzadresse)", r"[01]"),
    _t("Anschrift individuell (Korrespondenzadresse)", r".{0,306}"),
    _n("Anschrift manuell geändert (Rechnungsadresse)", r"[01]"),
    _t("Anschrift individuell (Rechnungsadresse)", r".{0,306}"),
    _n("Fristberechnung bei Debitor", r"\d"), _n("Mahnfrist 1", r"\d{1,3}"), _n("Mahnfrist 2", r"\d{1,3}"),
    _n("Mahnfrist 3", r"\d{1,3}"), _n("Letzte Frist", r"\d{1,3}"),
)
assert len(PARTY_COLUMNS) == 254, len(PARTY_COLUMNS)

# The 31 fields of row 1. Both formats share them; dates (15, 16) are empty in master data.
HEADER_COLUMNS: tuple[Column, ...] = (
    _t("Kennzeichen", r"EXTF", True), _n("Versionsnummer", str(HEADER_VERSION), True),
    _n("Formatkategorie", r"16|21", True), _t("Formatname", r"Buchungsstapel|Debitoren/Kreditoren", True),
    _n("Formatversion", r"\d{1,3}", True),
    _n("Erzeugt am", r"20\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])([01]\d|2[0-3])[0-5]\d[0-5]\d\d{3}", True),
    _n("Importiert", r""), _t("Herkunft", r"[A-Z]{2}"), _t("Exportiert von", r".{0,25}"),
    _t("Importiert von", r""), _n("Beraternummer", r"\d{4,7}", True), _n("Mandantennummer", r"\d{1,5}", True),
    _n("WJ-Beginn", r"\d{4}0101|\d{4}(0[1-9]|1[0-2])01", True), _n("Sachkontenlänge", r"[4-8]", True),
    _n("Datum vom", r"\d{8}"), _n("Datum bis", r"\d{8}"), _t("Bezeichnung", r"[\w.\-/ ]{0,30}"),
    _t("Diktatkürzel", r"([A-Z]{2}){0,2}"), _n("Buchungstyp", r"[12]"), _n("Rechnungslegungszweck", r"0|30|40|50|64"),
    _n("Festschreibung", r"[01]"), _t("WKZ", r"[A-Z]{3}"), _n("reserviert", r""), _t("Derivatskennzeichen", r""),
    _n("reserviert", r""), _n("reserviert", r""), _t("Sachkontenrahmen", r"\d{2}"),
    _n("ID der Branchenlösung", r"\d{1,4}"), _n("reserviert", r""), _t("reserviert", r""),
    _t("Anwendungsinformation", r".{0,16}"),
)
assert len(HEADER_COLUMNS) == 31


def quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def render(columns: tuple[Column, ...], values: dict[str, str] | list[str]) -> str:
    """One row: `values` by column name (the others empty) or one per column; text quoted."""
    cells = [values.get(c.name, "") for c in columns] if isinstance(values, dict) else values
    return ";".join(quote(v) if c.text else v for c, v in zip(columns, cells, strict=True))


def heading(columns: tuple[Column, ...]) -> str:
    return ";".join(c.name for c in columns)

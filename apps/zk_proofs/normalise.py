"""Selector normalisation for ZK-TX (pure; runs in the tenant-side client).

Two tenants only match what they spell identically, so every rule here decides real matches:

* **Phones** go through libphonenumber (``phonenumbers``) to E.164. A number written
  internationally (``+44 (0)7700 900123``, ``0044 …``, ``tel:+44…``) needs no region; a national
  number (``07700 900123``, ``(415) 555-2671``) is read in the tenant's **explicit default
  region** and refused when there is none — guessing a country silently creates false
  "no overlap" answers. Numbers that cannot exist (wrong length for the country) are refused.
* **E-mails**: ``mailto:`` and angle brackets (``Ann <ann@x.org>``) are stripped, the address
  is put in Unicode NFC, the local part lower-cased, the domain converted to its IDNA (UTS 46)
  ASCII form, so ``ann@bücher.de`` in NFC or NFD and ``ann@xn--bcher-kva.de`` are one selector.
* **Account ids** are trimmed and put in NFC; case is kept (ids are case-sensitive).

``prepare`` reports, per rule, how many lines it rewrote or refused; the client prints it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

import idna
import phonenumbers

_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_ANGLE = re.compile(r"^(?:[^<>]*)<([^<>]+)>$")


class Refused(ValueError):
    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def phone(value: str, region: str | None, applied: list[str]) -> str:
    text = value.strip()
    if text.lower().startswith("tel:"):
        text = text[4:].strip()
        applied.append("tel_prefix_stripped")
    international = text.startswith("+") or re.sub(r"[\s().-]", "", text).startswith("00")
    if not international and not region:
        raise Refused("refused_national_without_region")
    if international and not region and not text.startswith("+"):
        # 00 is the international prefix almost everywhere; without a region libphonenumber
        # cannot know it, so it is spelled out (with a region, the region's own prefix applies).
        text = "+" + re.sub(r"[\s().-]", "", text)[2:]
        applied.append("international_prefix_00")
    try:
        number = phonenumbers.parse(text, None if international and not region else region)
    except phonenumbers.NumberParseException as exc:
        raise Refused("refused_unparseable_phone") from exc
    if not phonenumbers.is_possible_number(number):
        raise Refused("refused_impossible_phone")
    out = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not international:
        applied.append(f"national_read_in_{region}")
    if "(0)" in text.replace(" ", ""):
        applied.append("trunk_prefix_0_dropped")
    if out != text:
        applied.append("phone_reformatted_e164")
    return out


def email(value: str, applied: list[str]) -> str:
    text = value.strip()
    m = _ANGLE.match(text)
    if m:
        text = m.group(1).strip()
        applied.append("angle_brackets_stripped")
    if text.lower().startswith("mailto:"):
        text = text[7:].split("?", 1)[0]
        applied.append("mailto_stripped")
    nfc = unicodedata.normalize("NFC", text)
    if nfc != text:
        applied.append("unicode_nfc")
    if not _EMAIL.fullmatch(nfc):
        raise Refused("refused_invalid_email")
    local, _, domain = nfc.rpartition("@")
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise Refused("refused_invalid_domain") from exc
    if ascii_domain != domain.lower():
        applied.append("domain_idna_ascii")
    out = f"{local.lower()}@{ascii_domain}"
    if local != local.lower() or domain != domain.lower():
        applied.append("lower_cased")
    return out


def account(value: str, applied: list[str]) -> str:
    text = unicodedata.normalize("NFC", value.strip())
    if text != value:
        applied.append("trimmed_or_nfc")
    if not text:
        raise Refused("refused_empty")
    return text


def normalise(value: str, kind: str, region: str | None = None) -> tuple[str | None, list[str]]:
    """One selector in canonical form (or None) and the rules that changed or refused it."""
    applied: list[str] = []
    if not value.strip():
        return None, ["skipped_blank_line"]
    try:
        if kind == "phone":
            return phone(value, region.upper() if region else None, applied), applied
        if kind == "email":
            return email(value, applied), applied
        return account(value, applied), applied
    except Refused as exc:
        return None, [*applied, exc.rule]


def prepare(values: list[str], kind: str, region: str | None = None) -> tuple[list[str], dict[str, int]]:
    """Normalised, deduplicated selectors, and per rule how many lines it rewrote or refused."""
    seen: dict[str, None] = {}
    report: Counter[str] = Counter()
    for v in values:
        out, applied = normalise(v, kind, region)
        report.update(applied)
        if out is None:
            continue
        if out in seen:
            report["duplicate_removed"] += 1
        seen.setdefault(out, None)
    report["accepted"] = len(seen)
    return list(seen), dict(sorted(report.items()))

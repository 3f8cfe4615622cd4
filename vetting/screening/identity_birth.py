"""The date-of-birth matcher behind :func:`vetting.screening.identity.assess_identity`.

Reads explicit dates of birth near "born", "birthday", "DOB"; ages ("I'm 29", "Age: 29",
"Alex Rivera, 29,", "a 29-year-old Alex Rivera", "Alex Rivera is 29 years old") compared with
the candidate's age on the page's date; birth years ("I was born in 1996", "Alex Rivera (born
1996)", "born in 1996" in free text unless the sentence first names someone else). What agrees
(within a year) is a ``date_of_birth`` match; what a page says about the person that does not
is a contradiction. Pure functions: no I/O.
"""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import date
from itertools import islice

from vetting.screening.identity_evidence import CandidateIdentifiers, _Collector, _Field, _original
from vetting.screening.identity_matchers import _NOT_SELF
from vetting.screening.identity_statements import near_name_statements

# date of birth, age, birth year

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_MON = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_FORMS = [
    (re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)"), "ymd"),
    (re.compile(r"(?<![\d/.-])(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})(?![\d/.-]\d|\d)"), "mdy"),
    (re.compile(r"(?<![a-z])" + _MON + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)"), "Mdy"),
    (re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MON + r",?\s+(\d{4})(?!\d)"),
     "dMy"),
]
_MONTH_DAY = re.compile(r"(?<![a-z])" + _MON + r"\s+(\d{1,2})(?:st|nd|rd|th)?(?![\d,]*\s*\d{4})")
_BIRTH_CONTEXT = re.compile(
    r"(?:\bborn\b|\bbirthday\b|\bb-?day\b|\bdob\b|d\.o\.b|date\s+of\s+birth|birth\s*date)"
    r"[^.!?\n]{0,25}$")
_BIRTH_SELF = re.compile(
    r"(?:\bi\s+was\s+born\b|\bmy\s+(?:birthday|b-?day|birth\s*date|date\s+of\s+birth)\b|"
    r"(?:^|\n)[ \t]*(?:dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|born|birthday)\s*:)"
    r"[^.!?\n]{0,25}$")
_AGE_SELF = [
    re.compile(r"(?<![\w'])(?:i'm|im|i\s+am)\s+(?:now\s+|only\s+|just\s+|almost\s+|nearly\s+)?"
               r"(\d{1,2})(?:\s*(?:years?|yrs?)(?:\s*old)?|\s*y/?o)?"
               r"(?=\s*(?:$|[.,!?;:)\n]|and\b|but\b|now\b|today\b|this\b|so\b))"),
    re.compile(r"(?<![\w'])i\s+(?:just\s+)?turned\s+(\d{1,2})(?!\d)"),
    re.compile(r"(?<![\w'])(?:i'm|im|i\s+am)\s+turning\s+(\d{1,2})(?!\d)"),
    re.compile(r"(?<![\w'])my\s+(\d{1,2})(?:st|nd|rd|th)\s+(?:birthday|b-?day)"),
    re.compile(r"(?:^|\n)[ \t]*age\s*:\s*(\d{1,2})(?!\d)"),
    # a profile line that starts with the age: "29 years old | Kansas City", "29 y/o"
    re.compile(r"(?:^|\n)[ \t]*(\d{1,2})\s*(?:years?\s+old|yrs?\s+old|y/o|yo)\b"),
]
_AGE_AFTER_NAME = re.compile(r"\s*(?:,\s*(?:age\s+|aged\s+)?(\d{1,2})\s*(?:,|\.|$|\s+of\b)"
                             r"|\(\s*(\d{1,2})\s*\))")
_YEAR_SELF = [
    re.compile(r"(?<![\w'])i\s+was\s+born\s+(?:in\s+)?(\d{4})(?!\d)"),
    re.compile(r"(?:^|\n)[ \t]*(?:born|birth\s*year|year\s+of\s+birth)\s*:?\s*(?:in\s+)?(\d{4})"
               r"(?![\d/-])"),
]
#: "born in <year>" statements read per field at most: the first ones decide, a page that says
#: it 80,000 times must not cost 80,000 looks at its context
MAX_BARE_STATEMENTS = 50
_BORN_BARE = re.compile(r"(?<![\w'])born\s+(?:in\s+)?((?:19|20)\d{2})(?![\d/-])")
_YEAR_AFTER_NAME = re.compile(r"\s*(?:,\s*)?\(?\s*(?:born|b\.)\s*(?:in\s+)?(\d{4})(?!\d)")


def _parse_date(kind: str, m: re.Match[str]) -> list[date]:
    g = m.groups()
    try:
        if kind == "ymd":
            return [date(int(g[0]), int(g[1]), int(g[2]))]
        if kind == "mdy":
            y = int(g[2])
            if len(g[2]) == 2:
                y += 1900 if y > 30 else 2000
            # 04/12/1996 is April 12 in the US and 4 December elsewhere: accept either reading
            out = []
            for mo, d in ((int(g[0]), int(g[1])), (int(g[1]), int(g[0]))):
                with suppress(ValueError):
                    out.append(date(y, mo, d))
            return out
        if kind == "Mdy":
            return [date(int(g[2]), _MONTHS[g[0]], int(g[1]))]
        return [date(int(g[2]), _MONTHS[g[1]], int(g[0]))]
    except (ValueError, KeyError):
        return []


def _age_on(dob: date, ref: date) -> int:
    return ref.year - dob.year - ((ref.month, ref.day) < (dob.month, dob.day))


def _birth(ids: CandidateIdentifiers, fields: list[_Field], name_spans: list[tuple[int, int]],
           ref: date, out: _Collector) -> None:
    dob = ids.date_of_birth
    if dob is None:
        return
    actual = _age_on(dob, ref)
    iso = dob.isoformat()
    for f in fields:
        folded = f.text.folded
        for rx, kind in _DATE_FORMS:
            for m in rx.finditer(folded):
                before = folded[max(0, m.start() - 40):m.start()]
                if not _BIRTH_CONTEXT.search(before):
                    continue
                dates = _parse_date(kind, m)
                if dob in dates:
                    out.match("date_of_birth", iso, f, m.start(), m.end())
                elif dates and _BIRTH_SELF.search(before):
                    out.contradict("date_of_birth", _original(f, m.start(), m.end()), iso, f,
                                   m.start(), m.end())
        for m in _MONTH_DAY.finditer(folded):
            before = folded[max(0, m.start() - 40):m.start()]
            same_day = (_MONTHS[m.group(1)], int(m.group(2))) == (dob.month, dob.day)
            if same_day and _BIRTH_SELF.search(before):
                out.match("date_of_birth", f"birthday {dob.month:02d}-{dob.day:02d}", f,
                              m.start(), m.end())
        ages: list[tuple[int, int, int]] = []
        for rx in _AGE_SELF:
            ages += [(int(m.group(1)), m.start(), m.end()) for m in rx.finditer(folded)]
        statements = near_name_statements(f.text, name_spans) if f.name == "text" else []
        if f.name == "text":
            for _, e in name_spans:
                am = _AGE_AFTER_NAME.match(folded, e)
                if am:
                    ages.append((int(am.group(1) or am.group(2)), am.start(), am.end()))
            ages += [(int(st.value), st.start, st.end) for st in statements if st.kind == "age"]
        for age, s, e in ages:
            if not 10 <= age <= 99:
                continue
            if abs(age - actual) <= 1:
                out.match("date_of_birth", f"age {age}", f, s, e)
            else:
                out.contradict("date_of_birth", f"age {age}", f"age {actual} on {ref.isoformat()}",
                               f, s, e)
        years: list[tuple[int, int, int]] = []
        for rx in _YEAR_SELF:
            years += [(int(m.group(1)), m.start(), m.end()) for m in rx.finditer(folded)]
        for m in islice(_BORN_BARE.finditer(folded), MAX_BARE_STATEMENTS):
            # "proud KC native, born in 1994": about the page's subject unless the sentence
            # names someone else first ("my son, born in 2019")
            before = folded[max(0, m.start() - 80):m.start()]
            sentence = before[max(before.rfind(c) for c in ".!?\n") + 1:]
            if not _NOT_SELF.search(sentence):
                years.append((int(m.group(1)), m.start(), m.end()))
        if f.name == "text":
            for _, e in name_spans:
                ym = _YEAR_AFTER_NAME.match(folded, e)
                if ym:
                    years.append((int(ym.group(1)), ym.start(), ym.end()))
            for st in statements:
                if st.kind != "born":
                    continue
                if st.value.isdigit():
                    years.append((int(st.value), st.start, st.end))
                    continue
                for rx, kind in _DATE_FORMS:
                    dm = rx.search(st.value)
                    dates = _parse_date(kind, dm) if dm else []
                    if dates:
                        if dob in dates:
                            out.match("date_of_birth", iso, f, st.start, st.end)
                        else:
                            out.contradict("date_of_birth", _original(f, st.start, st.end), iso, f,
                                           st.start, st.end)
                        break
        for year, s, e in years:
            if abs(year - dob.year) <= 1:
                out.match("date_of_birth", f"born {year}", f, s, e)
            else:
                out.contradict("date_of_birth", f"born {year}", f"born {dob.year}", f, s, e)

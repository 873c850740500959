"""Search queries in web search syntax: parsed once, checked, and written as an FTS5 MATCH.

The syntax is PostgreSQL's `websearch_to_tsquery`: words must all appear, "a quoted phrase"
appears as written, `OR` between words offers alternatives, and `-word` or `-"a phrase"` must
not appear. PostgreSQL reads the text itself; this module checks it the same way on every
backend (at least one word to find, in every alternative) and, for SQLite, writes the FTS5 query
with every word quoted, so no input can be an FTS5 syntax error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InvalidRequest
from ..rules import check_search_text


@dataclass(frozen=True)
class Term:
    text: str
    negated: bool


@dataclass
class SearchQuery:
    """The alternatives (joined by OR), each a list of terms that must (not) appear."""

    text: str
    alternatives: list[list[Term]] = field(default_factory=list)

    def fts5(self) -> str:
        """The FTS5 MATCH expression: `(“a” AND “b” NOT “c”) OR (“d”)`, every term quoted."""
        groups = []
        for terms in self.alternatives:
            wanted = " AND ".join(_quoted(term.text) for term in terms if not term.negated)
            unwanted = "".join(f" NOT {_quoted(term.text)}" for term in terms if term.negated)
            groups.append(f"({wanted}{unwanted})")
        return " OR ".join(groups)


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _has_word(text: str) -> bool:
    """Whether the text holds anything a tokenizer indexes: a letter or a digit of any script."""
    return any(character.isalnum() for character in text)


def parse_search(text: str) -> SearchQuery:
    """The query for `text`; InvalidRequest (field "q") when there is nothing to search for."""
    check_search_text(text)
    alternatives: list[list[Term]] = [[]]
    negated = False
    position, length = 0, len(text)
    while position < length:
        character = text[position]
        if character.isspace():
            position += 1
            continue
        if character == "-":  # as in websearch_to_tsquery, it negates the next word or phrase
            negated = not negated
            position += 1
            continue
        if character == '"':
            end = text.find('"', position + 1)
            end = length if end == -1 else end
            word, quoted = text[position + 1:end], True
            position = end + 1
        else:
            end = position
            while end < length and not text[end].isspace() and text[end] != '"':
                end += 1
            word, quoted = text[position:end], False
            position = end
        if not quoted and not negated and word.lower() == "or" and alternatives[-1] and position < length:
            alternatives.append([])
            continue
        if _has_word(word):
            alternatives[-1].append(Term(word, negated))
        negated = False
    alternatives = [terms for terms in alternatives if terms]
    if not alternatives:
        raise InvalidRequest("q has no words to search for.", {"field": "q"})
    if any(all(term.negated for term in terms) for terms in alternatives):
        raise InvalidRequest(
            "q needs a word to find (not only -excluded words) on each side of every OR.", {"field": "q"}
        )
    return SearchQuery(text, alternatives)

"""Search that ignores case, accents and diacritics, the same on SQLite and PostgreSQL: the services store a
folded copy of the searchable text (Proposal.search_text) and the selector folds the query the same way."""

import unicodedata

# Letters that NFKD does not decompose into a base letter plus combining marks.
_EXTRA = str.maketrans({"đ": "d", "Đ": "d", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "ß": "ss", "æ": "ae"})


def fold(text: str) -> str:
    """Lower case, no accents or diacritics, whitespace collapsed: "Đèn năng lượng" -> "den nang luong"."""
    decomposed = unicodedata.normalize("NFKD", (text or "").translate(_EXTRA))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().translate(_EXTRA).split())


def search_text_for(proposal) -> str:
    return fold(
        " ".join(
            [proposal.code or "", proposal.title or "", proposal.description or "", proposal.location or ""]
        )
    )


def search_text_refresh(proposals) -> int:
    """Fill the folded search text of proposals written without the services (the demo's fixtures)."""
    batch = list(proposals)
    for proposal in batch:
        proposal.search_text = search_text_for(proposal)
    if batch:
        type(batch[0]).objects.bulk_update(batch, ["search_text"], batch_size=500)
    return len(batch)

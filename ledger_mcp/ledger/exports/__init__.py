"""Exports of the books for other programs: DATEV EXTF (the tax advisor's import) and Beancount.

Each export streams the journal in keyset pages into a file on disk, so a large ledger is never held
in memory as a whole; the finished file is what the caller returns or stores."""

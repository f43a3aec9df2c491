"""The bank side: bank accounts, statement import (CAMT, MT940, CSV, JSON), suggestions, reconciliation
(match groups over open items, intents, direct bookings; unmatch) and the reads over them."""

"""One error family for the whole domain.

Every failure an agent can act on is a `LedgerError` with a stable `code`, a message that names
what was wrong, whether retrying the same call can succeed, and a hint that says how to fix the
call. The MCP layer turns these into tool error results in exactly one place.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """A refused operation. Nothing has been written when one is raised."""

    code: str = "LEDGER_ERROR"
    retryable: bool = False

    def __init__(self, message: str, *, hint: str = "", details: dict[str, Any] | None = None,
                 retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable
        self.message = message
        self.hint = hint
        self.details = details or {}
        self.request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "hint": self.hint,
        }
        if self.details:
            data["details"] = self.details
        if self.request_id:
            data["request_id"] = self.request_id
        return data


class ValidationFailed(LedgerError):
    code = "VALIDATION_ERROR"


class InvalidAmount(LedgerError):
    code = "INVALID_AMOUNT"


class AmountOutOfRange(LedgerError):
    """An amount above the ledger's per-amount maximum (money.MAX_AMOUNT_UNITS), which keeps report sums in 64 bits."""

    code = "AMOUNT_OUT_OF_RANGE"


class LedgerCapacityReached(LedgerError):
    """The ledger holds money.MAX_JOURNAL_LINES journal lines: more could make report sums overflow."""

    code = "LEDGER_CAPACITY_REACHED"


class InvalidDate(LedgerError):
    code = "INVALID_DATE"


class Unbalanced(LedgerError):
    code = "UNBALANCED"


class UnknownAccount(LedgerError):
    code = "UNKNOWN_ACCOUNT"


class AccountExists(LedgerError):
    code = "ACCOUNT_EXISTS"


class UnknownTaxCode(LedgerError):
    code = "UNKNOWN_TAX_CODE"


class UnsupportedCurrency(LedgerError):
    code = "UNSUPPORTED_CURRENCY"


class InvalidExchangeRate(LedgerError):
    code = "INVALID_EXCHANGE_RATE"


class ExchangeRateMissing(LedgerError):
    code = "EXCHANGE_RATE_MISSING"


class IntentNotFound(LedgerError):
    code = "INTENT_NOT_FOUND"


class AlreadyReversed(LedgerError):
    code = "ALREADY_REVERSED"


class IdempotencyConflict(LedgerError):
    code = "IDEMPOTENCY_CONFLICT"


class DuplicateSuspected(LedgerError):
    code = "DUPLICATE_SUSPECTED"


class InvalidCursor(LedgerError):
    code = "INVALID_CURSOR"


class NotInitialized(LedgerError):
    code = "NOT_INITIALIZED"


class WriteConflict(LedgerError):
    """Another writer moved the chain head first; the same call will succeed when retried."""

    code = "WRITE_CONFLICT"
    retryable = True


class PartyNotFound(LedgerError):
    code = "PARTY_NOT_FOUND"


class PartyExists(LedgerError):
    code = "PARTY_EXISTS"


class InvalidIban(LedgerError):
    code = "INVALID_IBAN"


class InvalidVatId(LedgerError):
    code = "INVALID_VAT_ID"


class InvoiceNotFound(LedgerError):
    code = "INVOICE_NOT_FOUND"


class DuplicateInvoice(LedgerError):
    code = "DUPLICATE_INVOICE"


class TotalsMismatch(LedgerError):
    code = "TOTALS_MISMATCH"


class OverSettlement(LedgerError):
    code = "OVER_SETTLEMENT"


class SettledItem(LedgerError):
    code = "SETTLED_ITEM"


class TaxCodeProtected(LedgerError):
    code = "TAX_CODE_PROTECTED"


class PeriodLocked(LedgerError):
    """The booking date lies in a locked (festgeschrieben) period."""

    code = "PERIOD_LOCKED"


class PeriodSoftLocked(LedgerError):
    """The booking date lies in a soft-locked period and the call did not acknowledge it."""

    code = "PERIOD_SOFT_LOCKED"


class FourEyesRequired(LedgerError):
    code = "FOUR_EYES_REQUIRED"


class LockRequestStale(LedgerError):
    code = "LOCK_REQUEST_STALE"


class PeriodStateConflict(LedgerError):
    """The action does not fit the period's current state (e.g. reopening a locked period)."""

    code = "PERIOD_STATE_CONFLICT"


class EarlierPeriodOpen(LedgerError):
    code = "EARLIER_PERIOD_OPEN"


class YearAlreadyClosed(LedgerError):
    code = "YEAR_ALREADY_CLOSED"


class FiscalYearClosed(LedgerError):
    """The booking date lies in a fiscal year whose year-end close stands."""

    code = "FISCAL_YEAR_CLOSED"


class MissingScope(LedgerError):
    """The caller's API key lacks the scope the tool or resource requires."""

    code = "MISSING_SCOPE"


class ToolDisabled(LedgerError):
    """This server instance does not offer the tool (read-only mode or the tool allow-list)."""

    code = "TOOL_DISABLED"


class ApiKeyNotFound(LedgerError):
    code = "API_KEY_NOT_FOUND"


class ConfirmationRefused(LedgerError):
    """A consequential action was not confirmed by a human (declined, cancelled, or no way to ask)."""

    code = "CONFIRMATION_REFUSED"


class DocumentRefused(LedgerError):
    """A document the intake cannot take: outside the inbox, too large, not decodable."""

    code = "DOCUMENT_REFUSED"


class DocumentNotFound(LedgerError):
    code = "DOCUMENT_NOT_FOUND"


class ReviewCaseNotFound(LedgerError):
    code = "REVIEW_CASE_NOT_FOUND"


class ReviewCaseClosed(LedgerError):
    code = "REVIEW_CASE_CLOSED"


class ComplianceBlocked(LedgerError):
    code = "COMPLIANCE_BLOCKED"


# --- Extraction ---


class DocumentEncrypted(LedgerError):
    code = "DOCUMENT_ENCRYPTED"


class DocumentCorrupt(LedgerError):
    code = "DOCUMENT_CORRUPT"


class DocumentEmpty(LedgerError):
    code = "DOCUMENT_EMPTY"


class UnsupportedDocument(LedgerError):
    code = "UNSUPPORTED_DOCUMENT"


class ExtractionTimeout(LedgerError):
    code = "EXTRACTION_TIMEOUT"
    retryable = False


class DocumentTooComplex(LedgerError):
    """Reading the document exceeded the extraction's memory or output limit (e.g. a decompression bomb)."""

    code = "DOCUMENT_TOO_COMPLEX"


class OcrUnavailable(LedgerError):
    code = "OCR_UNAVAILABLE"


class ControlAccountRefused(LedgerError):
    code = "CONTROL_ACCOUNT"


class ConfirmationRequired(LedgerError):
    """Waiting for a human: the call is repeated with the confirmation_id once it is granted."""

    code = "CONFIRMATION_REQUIRED"
    retryable = True


class ConfirmationInvalid(LedgerError):
    code = "CONFIRMATION_INVALID"


# --- Bank ---


class BankAccountNotFound(LedgerError):
    code = "BANK_ACCOUNT_NOT_FOUND"


class BankAccountExists(LedgerError):
    code = "BANK_ACCOUNT_EXISTS"


class BankTransactionNotFound(LedgerError):
    code = "BANK_TRANSACTION_NOT_FOUND"


class StatementMalformed(LedgerError):
    """A statement file that cannot be read at all; nothing of it was imported."""

    code = "STATEMENT_MALFORMED"


class StatementAccountMismatch(LedgerError):
    code = "STATEMENT_ACCOUNT_MISMATCH"


class AlreadyReconciled(LedgerError):
    code = "ALREADY_RECONCILED"


class NotReconciled(LedgerError):
    code = "NOT_RECONCILED"


class ReconciliationMismatch(LedgerError):
    """The amounts of a reconciliation do not add up to the bank transactions."""

    code = "RECONCILIATION_MISMATCH"


class PaymentRunNotFound(LedgerError):
    code = "PAYMENT_RUN_NOT_FOUND"


class PaymentRunStateConflict(LedgerError):
    """The run's status does not allow this step (e.g. export before approval)."""

    code = "PAYMENT_RUN_STATE_CONFLICT"


class InvoiceNotPayable(LedgerError):
    """An invoice a payment run cannot pay: no vendor IBAN, not EUR, blocked, not a payable, or in another run."""

    code = "INVOICE_NOT_PAYABLE"


def from_dict(data: dict[str, Any]) -> LedgerError:
    """The LedgerError that `to_dict` gave `data` (errors reported across a process boundary)."""
    classes: dict[str, type[LedgerError]] = {}
    pending: list[type[LedgerError]] = [LedgerError]
    while pending:
        cls = pending.pop()
        classes.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    cls = classes.get(str(data.get("code")), LedgerError)
    details = data.get("details")
    return cls(str(data.get("message", "")), hint=str(data.get("hint", "")),
               details=details if isinstance(details, dict) else None, retryable=bool(data.get("retryable")))
class BatchRefused(LedgerError):
    """Bookings of a batch were refused; details.errors names each by index. Nothing was written."""

    code = "BATCH_REFUSED"


class CompanyNotFound(LedgerError):
    code = "COMPANY_NOT_FOUND"


class CompanyExists(LedgerError):
    code = "COMPANY_EXISTS"

"""Payment runs: due payables paid by SEPA credit transfer.

create (bank account, execution date, invoices) -> approve (four eyes) -> export (pain.001) -> complete
(payables settled against the money-in-transit account, Skonto with its VAT correction) -> clear (the
bank statement's debit reconciled against the transit account), or cancel before completion.
`runs` holds the steps, `sepa` the file, `clearing` the status and the bank statement's side.
"""

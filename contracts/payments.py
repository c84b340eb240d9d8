"""payments: agent payments, same-day reversals, agent reconciliation and prepaid credit
(vendor sales and their same-day reversal, vendor commission, vouchers, emergency credit).

A contract source for the meterchain VM (docs/contract-language.md); read as text and
compiled, never imported. docs/contracts/payments.md explains the rules; this file is their
executable form. The code lives in modules under payments/, one per concept (checks,
policy, ledger, accounts, agents, agent_cash, reconciliation, credit, commission, sales,
vouchers, prepaid, grants), compiled into this contract; this file names every entry point it has.

Money is integer minor units (kurus, cents). Every unit that enters through this contract
(an agent's payment, a vendor's sale not reversed, a redeemed voucher) ends up in exactly one of: an
invoice (allocated by billing), a prepaid charge (consumed energy or water), the
subscription's credit account, or a refund. The per-utility ``ledger`` keeps those totals
so that the identity can be checked at any block.

A credit account belongs to one subscription (not to the meter): when the premises move to
a new subscriber the old subscriber's credit stays theirs. An account has a ``balance``
(money, may go negative: consumption beyond the credit is a debt that is kept, never lost),
an emergency reserve ``emergency_limit`` and the part of it in use, ``emergency_used``
(a loan, repaid first from the next money that arrives). The consumer's ``credit`` is what
may still be consumed before supply is cut: ``balance + emergency_limit - emergency_used``.
"""

from common.activity import activity
from payments.accounts import accounts_below_warning
from payments.agent_cash import (
    agent_cash,
    offline_window,
    record_remittance,
    remittance,
    set_offline_window,
)
from payments.agents import (
    payment,
    record_invoice_payment,
    record_payment,
    reversal_pending,
    reverse_payment,
)
from payments.commission import (
    commission_settlement,
    commission_settlements,
    commission_statement,
    register_vendor_float,
    settle_commission,
    vendor_float,
)
from payments.credit import (
    account,
    apply_credit,
    credit,
    refund_credit,
    refund_subscription_credit,
    subscription_account,
)
from payments.debt import carry_postpaid_arrears, record_prepaid_debt, reschedule_prepaid_debt
from payments.emergency import request_emergency_credit
from payments.grants import apply_grant, grant_credited_at, open_grant, segment_grant
from payments.ledger import ledger
from payments.policy import policy, set_policy
from payments.prepaid import charge_prepaid, grant_emergency_credit
from payments.reconciliation import reconciliation, reconciliation_ids, reconciliation_items
from payments.sales import buy_credit, purchase, reverse_purchase
from payments.tokens import reissue_token, reverse_token_sale, sell_token, token_account, token_sale
from payments.vouchers import issue_vouchers, redeem_voucher, voucher


@public
def init() -> None:
    require(not storage_has("gov"), "init once expected, found the contract already initialised")
    storage_set("gov", caller())

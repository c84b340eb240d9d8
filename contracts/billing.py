# Billing: meter readings, tariffs and postpaid invoices (a contract for the meterchain VM).
#
# This file is contract source in the language of docs/contract-language.md: it is compiled
# by vm/ and deployed in genesis, never imported as Python. docs/contracts/billing.md is the
# reference for every entry point and event; docs/tariffs.md for the tariff format and the
# rounding rule.
#
# The code lives in modules under billing/, one per concept (accounts, tariffs, pricing,
# readings, prepaid, invoices, settlement, closing, conversion, staff, corrections, rebill,
# period_readings, period_replay, exceptions, faults, plans, views), compiled into this
# contract; this file names every entry point the contract has (docs/contract-language.md,
# "Modules").
#
# The model in one paragraph. Each meter has one cumulative billing register. A reading's
# consumption (index delta, with register roll-over, times the CT multiplier) covers the
# time since the previous reading; it is split at the effective dates of the meter's tariff
# (pro rata by time, floor for the earlier part, the remainder to the later, so no unit is
# lost) and accumulated per tariff version until the period is closed. Closing a period
# prices each version's share: standing charge per second of the span, consumption in blocks
# whose limits are daily allowances times the days of the share, interval consumption by
# time-of-use window. Every line is rounded half up to a minor unit once; tax is computed
# once per invoice on the rounded taxable subtotal. A period with no reading gets an
# estimated invoice from the meter's own history; the next actual invoice re-prices the
# whole span since the last actual reading and credits what the estimates charged (the
# true-up), so estimates never change what is finally paid for energy. Prepaid meters are
# priced the same way one local day at a time, exactly, and each reading charges the sum
# of its days rounded once minus what was charged (billing/prepaid.py), through
# payments.charge_prepaid.
#
# Invoices belong to the subscription that was open when they were issued, not to the meter:
# its open invoices and carried credit are kept under its id, so a new tenant after a move-in
# neither sees nor pays the previous tenant's debt, which stays collectable by invoice id. A
# subscription is billed from its opening: consumption read while a meter has no active
# subscription, or the share of a reading's span before the opening (pro rata by time), is
# recorded as unbilled consumption for the utility to review, never billed to anyone.
#
# Checks are written `if not ok: revert(f"...")` rather than `require(ok, f"...")`: an
# f-string argument is built before the call, and on the hot path of readings that would
# format a message for every reading that passes.
#
# Storage (keys of this contract's namespace):
#   ms/<meter>                 the meter's billing state: last reading, open span, history,
#                              the subscription being billed, and a postpaid span's
#                              commitment to its readings (billing/period_readings.py)
#   (no key per reading: a reading's history is its `reading` or `load_profile` event in the
#   block's receipts, indexed by the node outside the state; docs/state.md, "What the state
#   holds")
#   sb/<subscription id>       a subscription's open invoices and carried credit
#   pp/<subscription id>       a prepaid subscription's open day, exact price of its days, charged
#   tariff/<utility>/<id>      the versions of a tariff, by effective date
#   assign/<meter>             [utility, tariff id]
#   cfg/<utility>              the utility's billing configuration
#   inv/<meter>/<seq>          an invoice
#   tot/<scope>#<day>          running totals of the invoices of a utility, branch or field
#                              whose period ends that day (for the regulators' queries)
#   pd/<scope>#<day>           prepaid and token-meter units and charges of a scope and day (billing/figures.py)
#   seg/<utility>#<segment>    running totals per customer segment
#   um/<utility>/<meter>       the meters billing knows, for run_billing
#   alloc/<payment id>         what a payment paid, to revert it exactly
#   cor/<meter>/C<seq>         a correction: credit note, rebill, manual charge or credit,
#                              reading corrected or confirmed, or arrears carried to
#                              prepaid debt (conversion.py)
#   corn/<meter>               the number of corrections made on the meter
#   rx/<meter>/<time>          a reading exception: why the meter was not read on a visit
#   flt/<meter>/F<seq>         a fault or tamper record; fln/<meter> their number
#   flo/<meter>                the meter's open faults by type
#   nf/<scope>                 open faults per utility, branch or field, by type
#   pp/<subscription>/P<seq>  a payment plan; ppn/<subscription> their number
#   ppa/<subscription>         the id of the subscription's current plan ("" when none)
#   np/<scope>                 plans not yet ended per utility, branch or field
#   a/<scope>#<day>            activity per scope and UTC day (exceptions, faults, plans)

from billing.closing import close_account, meter_replaced
from billing.conversion import carry_arrears
from billing.corrections import (
    correction,
    corrections_of,
    issue_credit_note,
    manual_charge,
    manual_credit,
)
from billing.exceptions import reading_exceptions, record_reading_exception
from billing.faults import end_meter_fault, meter_faults, open_fault_counts, record_meter_fault
from billing.invoices import close_period, run_billing
from billing.plans import (
    check_payment_plan,
    open_payment_plan,
    open_plan_count,
    payment_plan,
    payment_plans,
)
from billing.readings import submit_load_profile, submit_reading, submit_readings
from billing.rebill import confirm_reading, correct_readings, rebill, rebill_readings
from billing.settlement import apply_invoice_payment, apply_payment, revert_payment
from billing.tariffs import assign_tariff, set_billing_config, set_tariff
from billing.views import (
    arrears,
    assigned_tariff,
    balance_due,
    billing_config,
    billing_state,
    consumption_totals,
    invoice,
    invoices,
    last_reading,
    oldest_due,
    open_invoices,
    segments,
    subscription_balance,
    tariff,
)
from common.activity import activity


@public
def init() -> None:
    require(not storage_has("gov"), "init once expected, found billing already initialised")
    storage_set("gov", caller())

# registry — who is who: utilities, their branches and fields, their staff, meters and
# subscriptions.
#
# This file is a contract source for the meterchain VM (docs/contract-language.md): it is
# compiled and deployed in genesis, never imported as a Python module.
# The code lives in modules under registry/, one per concept (checks, records, roles,
# organisation, meters, subscriptions), compiled into this contract; this file names every
# entry point it has (docs/contract-language.md, "Modules").
#
# Authority flows downward and is always on chain: governance registers a utility and its
# first admin; an admin registers branches, fields, staff (operator, agent, vendor,
# collector) and meters; operators do the day-to-day work (activate meters, approve
# subscriptions, flag protected customers); consumers open subscriptions from their wallet.
# Every record stores who changed it (`by`) and when (`at`), and every change emits an event:
# the receipts are the audit trail.
#
# Storage layout (keys of this contract's namespace):
#   gov                          governance account (set once by init)
#   u/<utility>                  utility record and policy
#   b/<branch>  f/<field>        organisation records; ids nest: "ELEC/KADIKOY/F1"
#   r/<utility>/<role>/<hex>     a role grant
#   m/<meter>                    meter record
#   ix/<field>/<meter>           scope index: a prefix scan over "ix/<scope>/" lists the
#                                meters of a utility, branch or field
#   s/<meter>                    the meter's current subscription
#   sn/<meter>                   number of subscriptions ever opened on the meter
#   h/<meter>/<seq>              past subscriptions (history is never deleted)
#   c/<consumer hex>/<meter>     the consumer's current subscriptions
#   n/<scope>                    counters per scope (subscriptions by status, mode, segment)
#   a/<scope>#<day>              activity per scope and UTC day (subscriptions opened,
#                                closed..., meters registered...), for period queries

from common.activity import activity
from registry.meters import (
    activate_meter,
    deactivate_meter,
    meter,
    meter_for_reading,
    meters_in,
    register_meter,
    replace_meter,
    update_meter,
)
from registry.organisation import (
    branch,
    branches,
    field,
    fields,
    register_branch,
    register_field,
    register_utility,
    set_utility_policy,
    utility,
)
from registry.roles import governance, grant_role, has_role, revoke_role, role_holders, roles_of
from registry.subscriptions import (
    accept_move_in,
    approve_subscription,
    convert_to_prepaid,
    end_awaited_subscription,
    move_in,
    reject_subscription,
    set_identity,
    set_low_balance_threshold,
    set_protected,
    set_segment,
    subscribe,
    subscription,
    subscription_counts,
    subscription_history,
    subscriptions_in,
    subscriptions_of,
    terminate_subscription,
)


@public
def init() -> None:
    require(not storage_has("gov"), "registry: first init expected, found it already initialised")
    storage_set("gov", caller())
    emit("registry_initialised", {"governance": caller(), "by": caller(), "at": block_time()})

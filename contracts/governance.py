# governance — the chain run by its validators: the validator set, and proposals that
# change it or approve a contract deploy or upgrade, decided once validators holding more
# than 2/3 of the current voting power approved them; evidence of double signing.
#
# This file is a contract source for the meterchain VM (docs/contract-language.md): it is
# deployed in the genesis of a network chain (one with validators), initialised there with
# the chain id and the genesis validators, never imported as a Python module. A chain
# without validators (node.localchain, the in-process demonstration) has no governance
# contract and keeps the genesis governance key's rule for deploys (docs/consensus.md).
# The code lives in modules under governance/ (sets, proposals, evidence).
#
# The rules:
#   - a validator of the current set (the set of the block being applied) proposes; its
#     proposal counts as its approval; validators of the current set approve, once each;
#   - a proposal is decided in the block where the approvals of current validators hold
#     more than 2/3 of the current set's power (exactly 2/3 is not enough);
#   - a decided set change takes effect at the decided block's height + 2; the nodes read
#     ch/<height> (node/validator_sets.py) and the headers commit to the result;
#   - a decided contract approval lets exactly one deploy or upgrade of that name, kind and
#     code hash through (chain/transition.py consumes ap/...);
#   - a decided parameter change holds from the next block (governance/parameters.py);
#   - a proposal open longer than the proposal_lifetime parameter expires; its proposer may
#     withdraw it while it is open.
#
# Storage layout:
#   chain_id                        the chain id (votes are signed for it)
#   vh                              effective heights of the snapshots below, ascending
#   vs/<height, 20 digits>          the validator set (key -> power) from that height on
#   ch/<height, 20 digits>          changes taking effect at that height (key -> power)
#   np                              the next proposal id
#   p/<id, 20 digits>               a proposal: kind, subject, proposer, approvals, status...
#   params                          the chain parameters (name -> value; chain/parameters.py)
#   ap/<name>/<kind>/<code hash>    an approved deploy/upgrade, until the chain uses it
#   ev/<evidence hash hex>          evidence of a double vote
#   evp/<validator hex>             the open removal proposal that evidence opened

from common.text import shape
from governance.evidence import evidence_page, report_evidence
from governance.parameters import init_parameters, parameters
from governance.proposals import (
    approve,
    contract_approved,
    proposal,
    proposals,
    propose_contract,
    propose_parameters,
    propose_validators,
    withdraw,
)
from governance.sets import init_sets, set_changes, validator_set


@public
def init(chain_id: str, validators: list) -> None:
    require(not storage_has("chain_id"), "governance: first init expected, found it already initialised")
    ok = isinstance(chain_id, str) and len(chain_id) > 0
    require(ok, f"chain id: text expected, found {shape(chain_id)}")
    storage_set("chain_id", chain_id)
    init_sets(validators)
    init_parameters()
    emit("governance_initialised", {"chain_id": chain_id, "validators": len(validators)})

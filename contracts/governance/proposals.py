"""Proposals and approvals: a change of the validator set, the approval of one contract
deploy or upgrade, or a change of chain parameters. A validator of the current set proposes
(which counts as its approval) and validators approve; when the approvals of current
validators hold more than 2/3 of the current voting power, the proposal is decided in that
block.

A proposal stays open for ``proposal_lifetime`` heights (a chain parameter, read when it is
opened): after its ``expires_at`` height approvals are refused and it reads as expired, so
an approval given long ago cannot be completed by a later set of validators that never
looked at it. Its proposer may withdraw it while it is open; a removal opened by evidence
is not withdrawn (the evidence stands), it only expires.

A contract module (docs/contract-language.md, "Modules"): compiled into the governance
contract, never imported as Python.
"""

from common.keys import storage_key
from common.text import pad, shape
from governance.parameters import apply_parameter_changes, checked_parameter_changes, parameter
from governance.sets import (
    HEIGHT_DIGITS,
    checked_changes,
    current_set,
    more_than_two_thirds,
    schedule_changes,
    total_power,
)

CONTRACT_KINDS = ["deploy", "upgrade"]
MAX_NAME_LEN = 64  # chain.keys.MAX_CONTRACT_NAME
NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
NAME_REST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"


def proposal_key(proposal_id: int) -> str:
    return storage_key("p/", [pad(proposal_id, HEIGHT_DIGITS)])


def approval_key(name: str, kind: str, code_hash: bytes) -> str:
    # chain.transition reads and consumes this key (chain.keys.contract_approval_key).
    return storage_key("ap/", [name, kind, bytes_hex(code_hash)])


def require_current_validator(account: bytes, what: str) -> None:
    require(account in current_set(), f"{what} by a validator of the current set expected, found account {bytes_hex(account)}")


def require_contract_name(name) -> None:
    # chain.keys.CONTRACT_NAME: an identifier.
    require(isinstance(name, str), f"contract name: text expected, found {shape(name)}")
    n = len(name)
    ok = 0 < n and n <= MAX_NAME_LEN and name[0:1] in NAME_START
    for i in range(1, n):
        if name[i:i + 1] not in NAME_REST:
            ok = False
    require(ok, f"contract name of 1 to {MAX_NAME_LEN} ASCII letters, digits and _ (not starting with a digit) expected, found '{name}'")


def open_proposal(kind: str, subject: dict, proposer: bytes, evidence) -> int:
    proposal_id = storage_get("np", 1)
    storage_set("np", proposal_id + 1)
    storage_set(proposal_key(proposal_id), {
        "id": proposal_id, "kind": kind, "subject": subject, "proposer": proposer, "evidence": evidence,
        "approvals": [], "status": "open", "opened_at": block_height(),
        "expires_at": block_height() + parameter("proposal_lifetime"), "decided_at": None,
        "effective_height": None,
    })
    emit("proposal_opened", {"id": proposal_id, "kind": kind, "subject": subject, "proposer": proposer,
                             "evidence": evidence})
    return proposal_id


def with_status(p: dict) -> dict:
    """``p`` as it stands at this block: an open proposal past its ``expires_at`` is expired
    (nothing writes that: it follows from the height)."""
    if p["status"] == "open" and block_height() > p["expires_at"]:
        p["status"] = "expired"
    return p


def live_proposal(proposal_id: int) -> dict:
    """The open proposal ``proposal_id``, refused with its status if it is not open."""
    p = storage_get(proposal_key(proposal_id))
    require(p is not None, f"an existing proposal expected, found no proposal {proposal_id}")
    status = with_status(p)["status"]
    if status == "expired":
        revert(f"an open proposal expected, found proposal {proposal_id} expired at height {p['expires_at']} (now {block_height()})")
    require(status == "open", f"an open proposal expected, found proposal {proposal_id} {status}")
    return p


def is_live(proposal_id: int) -> bool:
    p = storage_get(proposal_key(proposal_id))
    return p is not None and with_status(p)["status"] == "open"


def add_approval(proposal_id: int, approver: bytes) -> None:
    """Record ``approver``'s approval; decide the proposal if approvals of the current set now
    hold more than 2/3 of its power."""
    key = proposal_key(proposal_id)
    p = live_proposal(proposal_id)
    approvals = p["approvals"]
    require(approver not in approvals, f"one approval per validator expected, found {bytes_hex(approver)} already approved proposal {proposal_id}")
    approvals.append(approver)
    p["approvals"] = approvals
    emit("proposal_approved", {"id": proposal_id, "by": approver})
    validators = current_set()
    power = 0
    for account in approvals:
        power += validators.get(account, 0)
    if more_than_two_thirds(power, total_power(validators)):
        decide(p)
    storage_set(key, p)


def decide(p: dict) -> None:
    p["status"] = "decided"
    p["decided_at"] = block_height()
    subject = p["subject"]
    if p["kind"] == "validators":
        p["effective_height"] = schedule_changes(subject["changes"])
        for validator in subject["changes"].keys():
            if storage_get(storage_key("evp/", [bytes_hex(validator)])) == p["id"]:
                storage_delete(storage_key("evp/", [bytes_hex(validator)]))
    elif p["kind"] == "parameters":
        p["effective_height"] = apply_parameter_changes(subject["changes"])
    else:
        storage_set(approval_key(subject["name"], subject["kind"], subject["code_hash"]),
                    {"proposal": p["id"], "decided_at": block_height()})
        emit("contract_approved", {"id": p["id"], "name": subject["name"], "kind": subject["kind"],
                                   "code_hash": subject["code_hash"]})
    emit("proposal_decided", {"id": p["id"], "kind": p["kind"], "effective_height": p["effective_height"]})


@public
def propose_validators(changes: list) -> int:
    """Propose a change of the validator set: [[public key, power], ...], power 0 removes;
    rotating a key is the old key at 0 and the new key at its power. Returns the id."""
    proposer = caller()
    require_current_validator(proposer, "a proposal")
    proposal_id = open_proposal("validators", {"changes": checked_changes(changes)}, proposer, None)
    add_approval(proposal_id, proposer)
    return proposal_id


@public
def propose_contract(name: str, kind: str, code_hash: bytes) -> int:
    """Propose to approve one deploy or upgrade of contract ``name`` with the code whose hash
    (chain.hashing Domain.CODE over the bytecode) is ``code_hash``. Returns the id."""
    proposer = caller()
    require_current_validator(proposer, "a proposal")
    require_contract_name(name)
    require(kind in CONTRACT_KINDS, f"kind deploy or upgrade expected, found {shape(kind)}")
    ok = isinstance(code_hash, bytes) and len(code_hash) == 32
    require(ok, f"code hash: 32 bytes expected, found {shape(code_hash)}")
    proposal_id = open_proposal("contract", {"name": name, "kind": kind, "code_hash": code_hash}, proposer, None)
    add_approval(proposal_id, proposer)
    return proposal_id


@public
def propose_parameters(changes: dict) -> int:
    """Propose new values of chain parameters: {name: value} (``parameters`` lists them).
    Returns the id."""
    proposer = caller()
    require_current_validator(proposer, "a proposal")
    proposal_id = open_proposal("parameters", {"changes": checked_parameter_changes(changes)}, proposer, None)
    add_approval(proposal_id, proposer)
    return proposal_id


@public
def withdraw(proposal_id: int) -> None:
    """The proposer takes back its open proposal; approvals given to it lapse."""
    require(isinstance(proposal_id, int), f"proposal id: an integer expected, found {shape(proposal_id)}")
    p = live_proposal(proposal_id)
    require(p["evidence"] is None, f"a proposal without evidence expected, found proposal {proposal_id} opened by evidence")
    require(caller() == p["proposer"], f"withdrawal by the proposer {bytes_hex(p['proposer'])} expected, found {bytes_hex(caller())}")
    p["status"] = "withdrawn"
    p["withdrawn_at"] = block_height()
    storage_set(proposal_key(proposal_id), p)
    emit("proposal_withdrawn", {"id": proposal_id, "by": caller()})


@public
def approve(proposal_id: int) -> None:
    require(isinstance(proposal_id, int), f"proposal id: an integer expected, found {shape(proposal_id)}")
    approver = caller()
    require_current_validator(approver, "an approval")
    add_approval(proposal_id, approver)


@view
def proposal(proposal_id: int) -> dict:
    p = storage_get(proposal_key(proposal_id))
    require(p is not None, f"an existing proposal expected, found no proposal {proposal_id}")
    return with_status(p)


@view
def proposals(start_after: int, limit: int) -> list:
    """Proposals by id after ``start_after`` (0 for the first page), at most ``limit`` (<= 100)."""
    require(isinstance(limit, int) and 0 < limit and limit <= 100, f"limit: 1 to 100 expected, found {shape(limit)}")
    after = ""
    if start_after > 0:
        after = proposal_key(start_after)
    out = []
    for key in storage_keys("p/", after, limit):
        out.append(with_status(storage_get(key)))
    return out


@view
def contract_approved(name: str, kind: str, code_hash: bytes) -> bool:
    """Whether a deploy or upgrade of this code is approved and not yet used."""
    return storage_has(approval_key(name, kind, code_hash))

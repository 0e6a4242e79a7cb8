"""Domain errors: each leaf says what was refused and carries a stable `code`.

Two families matter to callers: `NotFound` (the thing does not exist, or not for you) and
`RuleViolated` (it exists, but the rules refuse the command). `InvalidInput` is a value the
model cannot accept at all; `OpenLimitReached` asks the sender to come back later.
The domain never knows HTTP status codes; the API maps these families to them.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "domain-error"


class NotFound(DomainError):
    code = "not-found"


class RuleViolated(DomainError):
    code = "rule-violated"


class InvalidInput(DomainError):
    code = "invalid-input"


class OpenLimitReached(DomainError):
    """The company has as many emails in progress as its limit allows."""

    code = "open-limit-reached"


class CompanyNotFound(NotFound):
    code = "company-not-found"


class QueueNotFound(NotFound):
    code = "queue-not-found"


class AgentNotFound(NotFound):
    code = "agent-not-found"


class InteractionNotFound(NotFound):
    code = "interaction-not-found"


class MessageNotFound(NotFound):
    code = "message-not-found"


class MailboxNotFound(NotFound):
    code = "mailbox-not-found"


class ContactNotFound(NotFound):
    code = "contact-not-found"


class InvalidTransition(RuleViolated):
    code = "invalid-transition"

    def __init__(self, command: str, status: str, detail: str = "") -> None:
        message = f"cannot {command} an interaction that is {status}"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.command, self.status = command, status


class OfferedToAnotherAgent(RuleViolated):
    code = "offered-to-another-agent"


class AlreadyTaken(RuleViolated):
    code = "already-taken"


class NotOwner(RuleViolated):
    code = "not-owner"


class NotOffered(RuleViolated):
    code = "not-offered"


class NotQueueMember(RuleViolated):
    code = "not-queue-member"


class QueueHiddenFromAgent(RuleViolated):
    """The target of a transfer may not see the interaction's queue (their access profile)."""

    code = "queue-hidden-from-agent"


class AgentUnavailable(RuleViolated):
    code = "agent-unavailable"


class QueueClosed(RuleViolated):
    code = "queue-closed"


class DuplicateMailbox(RuleViolated):
    code = "duplicate-mailbox"


class NoDraft(RuleViolated):
    code = "no-draft"


class AddressOfAnotherContact(RuleViolated):
    code = "address-of-another-contact"


class PrimaryAddressKept(RuleViolated):
    """A contact's primary address names it, so it is never removed."""

    code = "primary-address-kept"


class DispositionRequired(InvalidInput):
    code = "disposition-required"


class UnknownDisposition(InvalidInput):
    code = "unknown-disposition"


class UnknownSubstatus(InvalidInput):
    code = "unknown-substatus"


class InvalidRoutingRule(InvalidInput):
    code = "invalid-routing-rule"


class InvalidTimezone(InvalidInput):
    code = "invalid-timezone"


class InvalidAddress(InvalidInput):
    code = "invalid-address"


class HeaderInjection(InvalidInput):
    code = "header-injection"


class UnparseableMessage(InvalidInput):
    code = "unparseable-message"


class UnknownRecipient(InvalidInput):
    code = "unknown-recipient"

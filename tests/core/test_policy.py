import pytest

from yellowbox_realtime.core.policy import Policy
from yellowbox_realtime.errors import ForbiddenError
from yellowbox_realtime.messages import Credentials

RIDER = Credentials("r1", "rider")
ADMIN = Credentials("a1", "admin")
FINANCE = Credentials("f1", "finance")
OPS = Credentials("o1", "operations")


@pytest.mark.parametrize(
    ("who", "channel", "allowed"),
    [
        (ADMIN, "rider_locations", True),
        (OPS, "rider_locations", True),
        (FINANCE, "rider_locations", False),
        (RIDER, "rider_locations", False),
        (FINANCE, "expense_updates", True),
        (ADMIN, "expense_updates", True),
        (OPS, "expense_updates", True),
        (RIDER, "expense_updates", False),
        (RIDER, "user:r1", True),
        (RIDER, "user:r2", False),
        (ADMIN, "user:r1", False),
        (FINANCE, "role:finance", True),
        (FINANCE, "role:admin", False),
    ],
)
def test_seed_rules(who: Credentials, channel: str, allowed: bool) -> None:
    assert Policy().can_subscribe(who, channel) is allowed


def test_refusals_say_why() -> None:
    policy = Policy()
    with pytest.raises(ForbiddenError, match="'finance' may not subscribe to 'rider_locations'"):
        policy.check_subscribe(FINANCE, "rider_locations")
    with pytest.raises(ForbiddenError, match="unknown channel"):
        policy.check_subscribe(ADMIN, "nuclear_codes")
    with pytest.raises(ForbiddenError, match="'admin' may not publish 'publish_location'"):
        policy.check_publish(ADMIN, "publish_location")
    with pytest.raises(ForbiddenError, match="cannot be published"):
        policy.check_publish(RIDER, "anything_else")
    policy.check_publish(RIDER, "publish_location")


def test_overrides_replace_single_entries() -> None:
    policy = Policy.with_overrides({"rider_locations": ("finance",)}, {})
    assert policy.can_subscribe(FINANCE, "rider_locations")
    assert not policy.can_subscribe(ADMIN, "rider_locations")
    assert policy.can_subscribe(FINANCE, "expense_updates")


def test_a_room_is_asked_again_of_the_current_credentials() -> None:
    policy = Policy()
    demoted = Credentials("ops-1", "rider")
    assert not policy.allows_room(demoted, "rider_locations")
    assert not policy.allows_room(demoted, "role:operations")
    assert policy.allows_room(demoted, "role:rider")
    assert policy.allows_room(demoted, "user:ops-1")
    assert not policy.allows_room(demoted, "user:ops-2")
    # Rooms the policy does not govern are the application's.
    assert policy.allows_room(demoted, "my-app-room")
    assert policy.allows_room(Credentials("ops-1", "operations"), "rider_locations")

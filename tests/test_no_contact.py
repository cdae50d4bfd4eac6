"""The no-contact list, from the outside: a member lists people they must never share a group
with; only keyed hashes are kept; the member and the group's facilitators are told privately
when the two would meet, and the listed person never learns of it.

alice (member of `circle`) lists charlie (the outsider) in these tests, unless said otherwise.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from django.core import mail
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.models import Notice, NoticeKind, User
from groups import no_contact
from groups.models import Invite, Membership, NoContactEntry, SupportGroup, hash_invite_token
from tests.conftest import add_member, make_group, make_user

pytestmark = pytest.mark.django_db

NO_CONTACT = reverse("groups:no_contact")
CHARLIE = "charlie@example.com"
WARNING = "Someone on your no-contact list is a member of this group"
# Anything that would tell the listed person about a list or a match.
TELLTALES = ("no-contact", "no contact", "nocontact")


# --- Helpers -------------------------------------------------------------------------------


def text_of(response: HttpResponse) -> str:
    """What a person reads on the page: tags stripped, entities decoded, spaces collapsed."""
    raw = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(raw).split())


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def add_entry(client: Client, email: str, label: str = "") -> HttpResponse:
    return client.post(NO_CONTACT, {"email": email, "label": label})


def join(client: Client, group: SupportGroup, handle: str, *, confirm: bool = False, url: str = "") -> HttpResponse:
    data = {"handle": handle, "accept_guidelines": "on"}
    if confirm:
        data["confirm_no_contact"] = "on"
    return client.post(url or reverse("groups:join", args=[group.slug]), data)


def notices_of(user: User) -> list[Notice]:
    return list(Notice.objects.filter(user=user))


def assert_nothing_telling(response: HttpResponse) -> None:
    page = response.content.decode().casefold()
    for word in TELLTALES:
        assert word not in page, word
    assert CHARLIE not in page


def every_email_text() -> str:
    parts = []
    for message in mail.outbox:
        parts += [message.subject, message.body, *(str(content) for content, _type in message.alternatives)]
    return "\n".join(parts).casefold()


@pytest.fixture
def evening(charlie: User, db: None) -> SupportGroup:
    """Another open group: charlie facilitates it, olga owns it, mia is a member."""
    group = make_group(name="Evening Harbour", slug="evening-harbour")
    add_member(group, make_user("olga@example.com"), "Bright Meadow", role="owner")
    add_member(group, charlie, "Silver Fox", role="facilitator")
    add_member(group, make_user("mia@example.com"), "Soft Rain")
    return group


@pytest.fixture
def alice_lists_charlie(alice_client: Client, charlie: User) -> Iterator[Client]:
    response = add_entry(alice_client, "Charlie@EXAMPLE.com ", "C.")
    assert response.status_code == 302
    yield alice_client


# --- The list page -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-email", "This is not a complete email address."),
        ("a@", "This is not a complete email address."),
        ("@example.com", "This is not a complete email address."),
        ("x" * 250 + "@example.com", "This is too long for an email address (at most 254 characters)."),
        ("   ", "Enter the email address of the person you want to avoid."),
        ("", "Enter the email address of the person you want to avoid."),
        ("charlie@example.com\nBcc: eve@example.com", "An email address can't contain spaces or line breaks."),
        ("charlie @example.com", "An email address can't contain spaces or line breaks."),
    ],
)
def test_malformed_emails_are_refused_with_a_clear_message(alice_client: Client, email: str, message: str) -> None:
    response = add_entry(alice_client, email, "J.")
    assert response.status_code == 400
    assert message in text_of(response)
    assert 'aria-invalid="true"' in response.content.decode()
    assert not NoContactEntry.objects.exists()


def test_bad_notes_are_refused(alice_client: Client) -> None:
    response = add_entry(alice_client, CHARLIE, "his address is charlie@example.com")
    assert response.status_code == 400
    assert not NoContactEntry.objects.exists()
    response = add_entry(alice_client, CHARLIE, "@work")
    assert "Leave email addresses out of the note" in text_of(response)
    assert CHARLIE not in response.content.decode()  # a complete address is never shown back
    assert not NoContactEntry.objects.exists()


def test_the_row_holds_only_a_keyed_hash(alice_client: Client, alice: User) -> None:
    response = add_entry(alice_client, "  Charlie@Example.COM ", "J.")
    assert response.status_code == 302
    entry = NoContactEntry.objects.get()
    assert entry.owner == alice and entry.label == "J."
    assert re.fullmatch(r"[0-9a-f]{64}", entry.email_key)
    assert entry.email_key == no_contact.email_key(CHARLIE)
    for field in NoContactEntry._meta.concrete_fields:
        value = str(field.value_from_object(entry)).casefold()
        assert "charlie" not in value and "example" not in value, field.name
    page = alice_client.get(NO_CONTACT)
    assert "J." in text_of(page) and "Added to your list. Nobody has been told." in text_of(page)
    assert CHARLIE not in page.content.decode().casefold()


def test_the_key_depends_on_the_dedicated_key(settings) -> None:
    before = no_contact.email_key(CHARLIE)
    assert no_contact.email_key(" CHARLIE@example.com\n") == before
    settings.NO_CONTACT_KEY = "another key"
    assert no_contact.email_key(CHARLIE) != before


def test_duplicates_in_any_case_own_address_and_a_full_list_are_refused(
    alice_lists_charlie: Client, alice: User
) -> None:
    client = alice_lists_charlie
    response = add_entry(client, "CHARLIE@example.com")
    assert response.status_code == 400
    assert "This address is already on your list." in text_of(response)
    assert CHARLIE not in response.content.decode().casefold()  # not even shown back to alice

    response = add_entry(client, "Alice@Example.com")
    assert "That is the address of your own account." in text_of(response)

    NoContactEntry.objects.bulk_create(
        NoContactEntry(owner=alice, email_key=no_contact.email_key(f"person{n}@example.com"))
        for n in range(no_contact.MAX_ENTRIES - 1)
    )
    response = add_entry(client, "one.more@example.com")
    assert response.status_code == 400
    assert "Your list is full (50 people)." in text_of(response)
    assert NoContactEntry.objects.filter(owner=alice).count() == no_contact.MAX_ENTRIES


def test_removing_an_entry_and_another_persons_entry_is_404(
    alice_lists_charlie: Client, alice: User, bob: User
) -> None:
    entry = NoContactEntry.objects.get(owner=alice)
    remove = reverse("groups:remove_no_contact", args=[entry.public_id])
    assert client_for(bob).post(remove).status_code == 404
    assert alice_lists_charlie.get(remove).status_code == 405
    assert NoContactEntry.objects.filter(pk=entry.pk).exists()
    response = alice_lists_charlie.post(remove)
    assert response.status_code == 302
    assert not NoContactEntry.objects.exists()
    assert alice_lists_charlie.post(remove).status_code == 404


def test_the_list_needs_a_login_and_is_linked_from_settings(alice_client: Client) -> None:
    assert Client().get(NO_CONTACT).status_code == 302
    assert Client().post(NO_CONTACT, {"email": CHARLIE}).status_code == 302
    assert not NoContactEntry.objects.exists()
    settings_page = alice_client.get(reverse("accounts:settings")).content.decode()
    assert f'href="{NO_CONTACT}"' in settings_page


def test_each_person_sees_only_their_own_list(alice_lists_charlie: Client, bob: User) -> None:
    page = client_for(bob).get(NO_CONTACT)
    assert "C." not in text_of(page) and "Nobody yet." in text_of(page)


# --- The listed person joins a group the member is in ----------------------------------------


def test_listed_person_joining_tells_the_member_and_facilitators_only(
    alice_lists_charlie: Client,
    circle: SupportGroup,
    alice: User,
    bob: User,
    owen: User,
    charlie: User,
    django_capture_on_commit_callbacks,
) -> None:
    frank, mia = make_user("frank@example.com"), make_user("mia@example.com")
    other = make_group(name="Morning Light", slug="morning-light")
    add_member(other, frank, "Still Water", role="facilitator")
    add_member(other, alice, "Quiet Dawn")
    add_member(circle, mia, "Soft Rain")
    mail.outbox.clear()
    charlie_client = client_for(charlie)

    responses = [charlie_client.get(reverse("groups:join", args=[circle.slug]))]
    with django_capture_on_commit_callbacks(execute=True):
        joined = join(charlie_client, circle, "Gentle Willow")
    assert joined.status_code == 302
    responses.append(joined)
    responses.append(charlie_client.get(joined["Location"]))
    for url in (reverse("groups:mine"), reverse("accounts:notices"), reverse("home")):
        responses.append(charlie_client.get(url))
    for response in responses:
        assert_nothing_telling(response)
    assert "Welcome to Tuesday Circle." in text_of(responses[2])

    (notice,) = notices_of(alice)
    assert notice.kind == NoticeKind.MODERATION and notice.in_app and notice.group == circle
    assert "Someone on your no-contact list is now a member of Tuesday Circle." in notice.text
    assert "Gentle Willow" not in notice.text  # alice is not told the handle
    for runner in (bob, owen):
        (alert,) = notices_of(runner)
        assert "Gentle Willow is on the no-contact list of Quiet Harbor" in alert.text
        assert alert.url == reverse("groups:members", args=[circle.slug])
    assert notices_of(charlie) == notices_of(frank) == notices_of(mia) == []

    # Emails (discreet by default) name nothing, and nobody gets one about charlie's address.
    assert sorted(message.to[0] for message in mail.outbox) == [
        "alice@example.com",
        "bob@example.com",
        "owen@example.com",
    ]
    emails = every_email_text()
    assert CHARLIE not in emails and "tuesday circle" not in emails and "no-contact" not in emails

    # Nobody's pages carry charlie's address; alice's notices page tells her.
    for user in (alice, bob, owen):
        page = client_for(user).get(reverse("accounts:notices"))
        assert CHARLIE not in page.content.decode().casefold()
    assert "Someone on your no-contact list" in text_of(client_for(alice).get(reverse("accounts:notices")))


def test_the_member_is_shown_the_notice_even_with_in_app_notices_off(
    alice_lists_charlie: Client, circle: SupportGroup, alice: User, charlie: User
) -> None:
    alice.in_app_kinds = []
    alice.save()
    join(client_for(charlie), circle, "Gentle Willow")
    (notice,) = notices_of(alice)
    assert notice.in_app


def test_listed_person_joining_by_invite_link_is_caught(
    alice_lists_charlie: Client, circle: SupportGroup, alice: User, bob: User, charlie: User
) -> None:
    circle.join_policy = SupportGroup.JoinPolicy.INVITE
    circle.save()
    token = "a-test-invite-token-0123456789"
    Invite.objects.create(
        group=circle, token_hash=hash_invite_token(token), expires_at=circle.created_at.replace(year=2100)
    )
    response = join(client_for(charlie), circle, "Gentle Willow", url=reverse("groups:invite", args=[token]))
    assert response.status_code == 302
    assert Membership.objects.get(user=charlie, group=circle).is_active
    assert len(notices_of(alice)) == 1 and len(notices_of(bob)) == 1
    assert notices_of(charlie) == []


def test_listed_persons_request_is_flagged_and_approval_tells_the_member(
    alice_lists_charlie: Client, circle: SupportGroup, alice: User, bob: User, owen: User, charlie: User
) -> None:
    circle.join_policy = SupportGroup.JoinPolicy.APPROVAL
    circle.save()
    charlie_client = client_for(charlie)
    response = join(charlie_client, circle, "Gentle Willow")
    assert_nothing_telling(charlie_client.get(response["Location"]))
    membership = Membership.objects.get(user=charlie, group=circle)
    assert membership.status == "pending"
    assert notices_of(alice) == []  # not until charlie is in
    (alert,) = notices_of(bob)
    assert "A join request in Tuesday Circle: Gentle Willow is on the no-contact list of Quiet Harbor" in alert.text

    queue = client_for(bob).get(reverse("groups:requests", args=[circle.slug]))
    assert "Gentle Willow is on the no-contact list of Quiet Harbor" in text_of(queue)
    assert CHARLIE not in queue.content.decode()

    client_for(bob).post(reverse("groups:decide", args=[circle.slug, membership.public_id]), {"decision": "approve"})
    (notice,) = notices_of(alice)
    assert "is now a member of Tuesday Circle" in notice.text
    assert [n.kind for n in notices_of(charlie)] == [NoticeKind.MEMBERSHIP]  # only the usual answer
    assert_nothing_telling(charlie_client.get(reverse("accounts:notices")))
    assert len(notices_of(owen)) == 2  # the flagged request, then both members


# --- The member tries to join a group the listed person is in ---------------------------------


def test_member_is_warned_before_joining_and_must_confirm(
    alice_lists_charlie: Client, evening: SupportGroup, alice: User, charlie: User
) -> None:
    olga, mia = User.objects.get(email="olga@example.com"), User.objects.get(email="mia@example.com")
    join_url = reverse("groups:join", args=[evening.slug])
    page = alice_lists_charlie.get(join_url)
    assert WARNING in text_of(page) and "Nobody has been told" in text_of(page)
    assert 'name="confirm_no_contact"' in page.content.decode()
    assert "Silver Fox" not in text_of(page)  # not who, nor their handle

    refused = join(alice_lists_charlie, evening, "Quiet Harbor")
    assert refused.status_code == 400
    assert "Tick the box to join anyway." in text_of(refused)
    assert not Membership.objects.filter(user=alice, group=evening).exists()

    joined = join(alice_lists_charlie, evening, "Quiet Harbor", confirm=True)
    assert joined.status_code == 302
    assert Membership.objects.get(user=alice, group=evening).is_active
    follow = text_of(alice_lists_charlie.get(joined["Location"]))
    assert "The group's facilitators have been told privately" in follow

    # olga heard once when alice was warned (a list can be used to look for someone), once on joining.
    alerts = [n.text for n in notices_of(olga)]
    assert len(alerts) == 2
    assert any("was about to join it, and Silver Fox is on their no-contact list" in text for text in alerts)
    assert any("Silver Fox is on the no-contact list of Quiet Harbor" in text for text in alerts)
    # charlie runs the group, but is the listed person: never told. mia is just a member.
    assert notices_of(charlie) == notices_of(mia) == []
    assert notices_of(alice) == []  # she saw and confirmed the warning on the page
    assert_nothing_telling(client_for(charlie).get(reverse("groups:detail", args=[evening.slug])))


def test_looking_again_does_not_alert_again(alice_lists_charlie: Client, evening: SupportGroup) -> None:
    olga = User.objects.get(email="olga@example.com")
    for _ in range(3):
        alice_lists_charlie.get(reverse("groups:join", args=[evening.slug]))
    assert len(notices_of(olga)) == 1


def test_other_people_see_no_warning(alice_lists_charlie: Client, evening: SupportGroup, bob: User) -> None:
    page = client_for(bob).get(reverse("groups:join", args=[evening.slug]))
    assert WARNING not in text_of(page) and 'name="confirm_no_contact"' not in page.content.decode()


def test_member_asking_to_join_is_flagged_but_never_to_the_listed_facilitator(
    alice_lists_charlie: Client, evening: SupportGroup, alice: User, charlie: User
) -> None:
    evening.join_policy = SupportGroup.JoinPolicy.APPROVAL
    evening.save()
    olga = User.objects.get(email="olga@example.com")
    response = join(alice_lists_charlie, evening, "Quiet Harbor", confirm=True)
    assert response.status_code == 302
    assert Membership.objects.get(user=alice, group=evening).status == "pending"
    assert any("A join request in Evening Harbour" in n.text for n in notices_of(olga))

    queue_url = reverse("groups:requests", args=[evening.slug])
    assert "Silver Fox is on the no-contact list of Quiet Harbor" in text_of(client_for(olga).get(queue_url))
    charlies_queue = client_for(charlie).get(queue_url)
    assert "Quiet Harbor" in text_of(charlies_queue)  # the request itself, as for any request
    assert_nothing_telling(charlies_queue)
    assert notices_of(charlie) == []


def test_when_only_the_listed_person_runs_the_group_site_staff_are_told(
    alice_lists_charlie: Client, alice: User, charlie: User, dana: User
) -> None:
    group = make_group(name="Small Room", slug="small-room")
    add_member(group, charlie, "Silver Fox", role="owner")
    join(alice_lists_charlie, group, "Quiet Harbor", confirm=True)
    assert notices_of(charlie) == []
    assert any("Silver Fox is on the no-contact list of Quiet Harbor" in n.text for n in notices_of(dana))


# --- Adding someone already in one of the member's groups --------------------------------------


def test_adding_someone_already_in_a_shared_group_warns_at_once(
    alice_client: Client, circle: SupportGroup, alice: User, bob: User, charlie: User
) -> None:
    add_member(circle, charlie, "Gentle Willow")
    response = add_entry(alice_client, CHARLIE)
    page = text_of(alice_client.get(response["Location"]))
    assert "The person you just added is a member of a group you are in: Tuesday Circle." in page
    assert len(notices_of(alice)) == 1
    assert "Gentle Willow is on the no-contact list of Quiet Harbor" in notices_of(bob)[0].text
    assert notices_of(charlie) == []


def test_removing_the_entry_stops_the_warnings(
    alice_lists_charlie: Client, circle: SupportGroup, evening: SupportGroup, alice: User, bob: User, charlie: User
) -> None:
    entry = NoContactEntry.objects.get(owner=alice)
    alice_lists_charlie.post(reverse("groups:remove_no_contact", args=[entry.public_id]))
    assert WARNING not in text_of(alice_lists_charlie.get(reverse("groups:join", args=[evening.slug])))
    join(client_for(charlie), circle, "Gentle Willow")
    assert notices_of(alice) == notices_of(bob) == []


# --- Language and efficiency ----------------------------------------------------------------------


def test_warnings_are_in_each_persons_language(
    alice_lists_charlie: Client,
    circle: SupportGroup,
    evening: SupportGroup,
    alice: User,
    bob: User,
    charlie: User,
    monkeypatch,
) -> None:
    def tagged(message: str) -> str:
        return f"[{translation.get_language()}] {message}"

    monkeypatch.setattr(no_contact, "_", tagged)
    alice.language = "es"
    alice.save()
    page = alice_lists_charlie.get(reverse("groups:join", args=[evening.slug])).content.decode()
    assert '<html lang="es">' in page and "Alguien de tu lista de no contacto es miembro de este grupo" in page
    join(client_for(charlie), circle, "Gentle Willow")
    assert notices_of(alice)[0].text.startswith("[es] ")
    assert notices_of(bob)[0].text.startswith("[en] ")


def test_matching_takes_few_queries(
    alice_lists_charlie: Client, circle: SupportGroup, alice: User, charlie: User, django_assert_num_queries
) -> None:
    for n in range(30):
        add_member(circle, make_user(f"member{n}@example.com"), f"Member {n}")
    add_member(circle, charlie, "Gentle Willow")
    with django_assert_num_queries(1):
        assert [m.user for m in no_contact.listers_of(charlie, circle)] == [alice]
    with django_assert_num_queries(2):
        assert [m.user for m in no_contact.listed_members(alice, circle)] == [charlie]
    with django_assert_num_queries(1):
        assert no_contact.listed_members(charlie, circle) == []  # no list: nothing to hash

"""Rules of the live room. The consumer parses frames and calls these; nothing else writes.

The database is the source of truth: a message is stored with the room's next `seq` (the
room row is locked while it is numbered, so seqs have no gaps and no repeats, whichever server
process takes the message) and only then published. A client that missed a broadcast asks for
what came after its last seq.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from groups.models import Membership
from lib import crisis, ratelimit
from lib.errors import ActionError
from lib.realtime import publish, publish_on_commit, send_to_group_on_commit
from lib.timefmt import show_time
from meetings import events
from meetings.models import Meeting, Room, RoomEvent, RoomParticipant, RoomPresence, Rsvp
from moderation import actions as moderation
from moderation import rules
from moderation.models import WatchedWord
from moderation.rules import audit

MAX_MESSAGE_LENGTH = 2000
MAX_CLIENT_ID_LENGTH = 64
PRESENCE_STALE_AFTER = timedelta(minutes=2)
MAX_MUTE_MINUTES = 24 * 60
MAX_SLOW_MODE_SECONDS = 300
REPLAY_BATCH = 500


class RoomError(Exception):
    """A refusal for the person in the room: an `error` frame with this code and message."""

    def __init__(self, code: str, message: str, *, closes: bool = False, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # True when the person may no longer be in the room at all: the socket then closes.
        self.closes = closes
        self.extra = extra

    def frame(self) -> dict[str, Any]:
        return events.error_frame(self.code, self.message, **self.extra)


@dataclass(frozen=True)
class RoomSession:
    """What a consumer knows about the person behind one socket."""

    room_id: int
    meeting_id: int
    group_id: int
    user_id: int
    membership_id: int
    member: str  # Membership.public_id
    handle: str
    is_facilitator: bool
    closes_at: datetime

    @property
    def room_group(self) -> str:
        return events.room_group(self.room_id)

    @property
    def member_group(self) -> str:
        return events.member_group(self.room_id, self.membership_id)


# --- Opening window and entry ------------------------------------------------------------


def opens_at(meeting: Meeting, room: Room) -> datetime:
    scheduled = meeting.starts_at - timedelta(minutes=settings.ROOM_OPENS_MINUTES_BEFORE)
    return min(scheduled, room.opened_early_at) if room.opened_early_at else scheduled


def closes_at(meeting: Meeting, room: Room) -> datetime:
    if room.ended_at is not None:
        return room.ended_at
    return meeting.ends_at + timedelta(minutes=settings.ROOM_GRACE_MINUTES)


def is_open(meeting: Meeting, room: Room, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if meeting.is_cancelled or room.ended_at is not None:
        return False
    return opens_at(meeting, room) <= now < closes_at(meeting, room)


def room_for(meeting: Meeting) -> Room:
    room, _created = Room.objects.get_or_create(meeting=meeting)
    return room


def runs_meeting(membership: Membership, meeting: Meeting) -> bool:
    """The group's facilitators and owners, and whoever this meeting names, run the room."""
    return membership.is_facilitator or membership.pk in (meeting.facilitator_id, meeting.backup_id)


def access_room(user: User, meeting_public_id: str) -> RoomSession:
    """Check everything about entering this meeting's room; RoomError says why not."""
    meeting = Meeting.objects.select_related("group").filter(public_id=meeting_public_id).first()
    membership = (
        Membership.objects.filter(group=meeting.group, user=user, status=Membership.Status.ACTIVE).first()
        if meeting is not None and user.is_authenticated
        else None
    )
    if meeting is None or membership is None:
        # The same answer for a meeting that does not exist and one the person may not know of.
        raise RoomError("not_found", _("There is no meeting room here for you."))
    _check_not_barred(membership, user)
    room = room_for(meeting)
    facilitator = runs_meeting(membership, meeting)
    now = timezone.now()
    if meeting.is_cancelled:
        raise RoomError("cancelled", _("This meeting is cancelled."))
    if room.ended_at is not None or now >= closes_at(meeting, room):
        raise RoomError("ended", _("This meeting has ended. Its room is closed."))
    participant = RoomParticipant.objects.filter(room=room, membership=membership).first()
    if not facilitator:
        if now < opens_at(meeting, room):
            opening = show_time(opens_at(meeting, room), user.timezone, meeting.group.timezone)
            raise RoomError("not_open", _("The room opens at %(time)s.") % {"time": opening.local})
        if participant is not None and participant.removed_at is not None:
            raise RoomError("removed", _("A facilitator removed you from this meeting."))
        if participant is None:
            if room.locked:
                raise RoomError("locked", _("The facilitators have closed this room to new arrivals."))
            going = Rsvp.objects.filter(meeting=meeting, membership=membership, status=Rsvp.Status.GOING).exists()
            if not going:
                if not meeting.group.allow_drop_ins:
                    raise RoomError("no_rsvp", _("This room is for people who said they are going."))
                entered = RoomParticipant.objects.filter(room=room).count()
                if entered >= meeting.capacity:
                    raise RoomError("full", _("The room is full."))
    live = RoomPresence.objects.filter(room=room, membership=membership, seen_at__gte=now - PRESENCE_STALE_AFTER)
    if live.count() >= settings.ROOM_SOCKETS_PER_MEMBER:
        raise RoomError(
            "too_many_connections",
            ngettext(
                "You are already in this room in %(count)d window. Close it to join here.",
                "You are already in this room in %(count)d windows. Close one to join here.",
                settings.ROOM_SOCKETS_PER_MEMBER,
            )
            % {"count": settings.ROOM_SOCKETS_PER_MEMBER},
        )
    return RoomSession(
        room_id=room.pk,
        meeting_id=meeting.pk,
        group_id=meeting.group_id,
        user_id=user.pk,
        membership_id=membership.pk,
        member=membership.public_id,
        handle=membership.handle,
        is_facilitator=facilitator,
        closes_at=closes_at(meeting, room),
    )


def _check_not_barred(membership: Membership, user: User, *, closes: bool = False) -> None:
    """A suspension (from the group, or of the account) keeps the person out of every room;
    it lifts itself when its time has passed."""
    if user.suspension_in_force():
        raise RoomError("suspended", _("Your account is suspended."), closes=closes)
    if membership.suspended_now():
        with translation.override(user.language):
            until = show_time(membership.suspended_until, user.timezone, membership.group.timezone).local  # type: ignore[arg-type]
        raise RoomError(
            "suspended",
            _("You are suspended from this group until %(until)s.") % {"until": until},
            closes=closes,
        )


def _present(room_id: int) -> list[tuple[Membership, bool]]:
    room = Room.objects.select_related("meeting").get(pk=room_id)
    memberships = Membership.objects.filter(
        pk__in=RoomPresence.objects.filter(room_id=room_id, seen_at__gte=timezone.now() - PRESENCE_STALE_AFTER).values(
            "membership_id"
        )
    ).order_by("handle")
    return [(membership, runs_meeting(membership, room.meeting)) for membership in memberships]


def _hands(room_id: int) -> list[RoomParticipant]:
    return list(
        RoomParticipant.objects.filter(room_id=room_id, hand_raised_at__isnull=False, removed_at__isnull=True)
        .select_related("membership")
        .order_by("hand_raised_at", "pk")
    )


def _state(room: Room) -> dict[str, Any]:
    return {
        **events.state_frame(room, room.sharer),
        "open": is_open(room.meeting, room),
        "opens_at": events.iso(opens_at(room.meeting, room)),
    }


@transaction.atomic
def do_enter_room(session: RoomSession, channel_name: str) -> dict[str, Any]:
    """Record the socket (presence) and the attendance, and return the welcome frame.

    Attendance is the participant row: made on the first entry only, so more sockets and
    re-entries leave it as it is. A row made by a removal before the person came in
    (moderation) becomes attendance if they are later let in, the removal lifted."""
    now = timezone.now()
    RoomPresence.objects.update_or_create(
        channel_name=channel_name,
        defaults={"room_id": session.room_id, "membership_id": session.membership_id, "seen_at": now},
    )
    arrival, _created = RoomParticipant.objects.get_or_create(
        room_id=session.room_id, membership_id=session.membership_id
    )
    if not arrival.entered:
        RoomParticipant.objects.filter(pk=arrival.pk, entered=False).update(entered=True, first_joined_at=now)
    room = Room.objects.select_related("sharer", "meeting").get(pk=session.room_id)
    present = _present(session.room_id)
    publish_on_commit(session.room_group, events.presence_frame(present))
    participant = RoomParticipant.objects.select_related("membership").get(
        room=room, membership_id=session.membership_id
    )
    return {
        "type": "welcome",
        "you": {
            "member": session.member,
            "handle": session.handle,
            "facilitator": session.is_facilitator,
            **_silenced(participant, now),
        },
        "room": _state(room),
        "presence": events.presence_frame(present),
        "hands": events.hands_frame(_hands(session.room_id)),
        "last_seq": room.last_seq,
        "closes_at": events.iso(session.closes_at),
        "reactions": {key: str(label) for key, label in events.REACTIONS.items()},
        "hidden": sorted(rules.hidden_members(session.membership_id)),
        **({"reports_open": moderation.open_count_for(participant.membership)} if session.is_facilitator else {}),
    }


def _silenced(participant: RoomParticipant, now: datetime) -> dict[str, Any]:
    """Until when, and why, this person can't write here: a mute in this room or a timeout in
    the group, whichever ends later (the page shows the same thing for both)."""
    holds = []
    if _is_muted(participant, now):
        holds.append((participant.muted_until, participant.mute_reason))
    membership = participant.membership
    if membership.timed_out_now(now):
        holds.append((membership.timeout_until, membership.timeout_reason))
    if not holds:
        return {"muted_until": None, "mute_reason": ""}
    until, reason = max(holds, key=lambda hold: hold[0])  # type: ignore[arg-type,return-value]
    return {"muted_until": events.iso(until), "mute_reason": reason}


@transaction.atomic
def do_leave_room(session: RoomSession, channel_name: str) -> None:
    RoomPresence.objects.filter(channel_name=channel_name).delete()
    if not Room.objects.filter(pk=session.room_id).exists():
        return  # the meeting was deleted meanwhile: nobody left to tell
    publish_on_commit(session.room_group, events.presence_frame(_present(session.room_id)))


def do_touch_presence(channel_name: str) -> None:
    RoomPresence.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())


def check_still_allowed(session: RoomSession) -> None:
    """Re-check what may have changed since the socket opened (removal, end, membership)."""
    room = Room.objects.select_related("meeting").get(pk=session.room_id)
    if room.ended_at is not None or room.meeting.is_cancelled:
        raise RoomError("ended", _("This meeting has ended. Its room is closed."), closes=True)
    _actor(session)


def _actor(session: RoomSession) -> Membership:
    """The person behind the socket, if they may still be in the room (membership and removal
    are checked on every action, so a ban or removal elsewhere takes effect at once)."""
    membership = Membership.objects.select_related("user", "group").get(pk=session.membership_id)
    if not membership.is_active or not membership.user.is_active:
        raise RoomError("not_found", _("There is no meeting room here for you."), closes=True)
    _check_not_barred(membership, membership.user, closes=True)
    if RoomParticipant.objects.filter(
        room_id=session.room_id, membership=membership, removed_at__isnull=False
    ).exists():
        raise RoomError("removed", _("A facilitator removed you from this meeting."), closes=True)
    return membership


# --- The log ---------------------------------------------------------------------------


def events_after(session: RoomSession, last_seq: int) -> tuple[list[dict[str, Any]], bool, int]:
    """The room's log after `last_seq`, in order, as frames (at most REPLAY_BATCH); whether
    more comes after them; and the newest seq the client may now be said to have."""
    if last_seq < 0:
        raise RoomError("invalid", _("last_seq must be 0 or more."))
    check_still_allowed(session)
    newest = Room.objects.values_list("last_seq", flat=True).get(pk=session.room_id)
    found = RoomEvent.objects.filter(room_id=session.room_id, seq__gt=last_seq).select_related("membership")
    batch = list(found.order_by("seq")[: REPLAY_BATCH + 1])
    sent = batch[:REPLAY_BATCH]
    hidden = rules.hidden_members(session.membership_id)  # people this person blocked
    frames = [
        events.event_frame(event, event.membership)
        for event in sent
        if not (event.kind != RoomEvent.Kind.DELETION and event.membership.public_id in hidden)
    ]
    caught_up = sent[-1].seq if sent else min(last_seq, newest)
    return frames, len(batch) > REPLAY_BATCH, caught_up


def _seconds(count: int) -> str:
    return ngettext("%(count)d second", "%(count)d seconds", count) % {"count": count}


def _next_seq(room_id: int, *, message: bool = False) -> int:
    """Lock the room row and take its next seq (no gap: a rolled-back insert gives it back).

    `message` is for a new message only (not a reaction or a deletion mark): it also counts the
    message in `Room.message_count`, in the same locked update, so a rolled-back insert (a
    refused or duplicate message) gives the count back with the seq."""
    room = Room.objects.select_for_update().get(pk=room_id)
    room.last_seq += 1
    fields = ["last_seq"]
    if message:
        room.message_count += 1
        fields.append("message_count")
    room.save(update_fields=fields)
    return room.last_seq


def _is_muted(participant: RoomParticipant | None, now: datetime) -> bool:
    return participant is not None and participant.muted_until is not None and participant.muted_until > now


def _log(
    session: RoomSession, action: str, *, target: Membership | None = None, reason: str = "", **detail: Any
) -> None:
    """Every room control goes into the moderation audit log."""
    audit(
        f"room.{action}",
        actor=session.user_id,
        actor_label=session.handle,
        group=session.group_id,
        target=target,
        reason=reason,
        meeting=Meeting.objects.values_list("public_id", flat=True).get(pk=session.meeting_id),
        **detail,
    )


def _publish_event(session: RoomSession, event: RoomEvent, author: Membership) -> dict[str, Any]:
    frame = events.event_frame(event, author)
    # Messages and reactions carry their author, so that people who blocked them never get them.
    hideable = event.kind in (RoomEvent.Kind.MESSAGE, RoomEvent.Kind.REACTION)
    publish_on_commit(session.room_group, frame, seq=event.seq, member=author.public_id if hideable else None)
    return frame


def _open_room(session: RoomSession) -> Room:
    room = Room.objects.select_related("meeting").get(pk=session.room_id)
    if not is_open(room.meeting, room):
        raise RoomError("closed", _("The room is closed."))
    return room


@transaction.atomic
def do_post_message(session: RoomSession, client_id: str, body: str) -> tuple[dict[str, Any], bool]:
    """Store and publish a message. A resend with the same client_id returns the stored one
    and stores nothing new. Returns (frame, created)."""
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID_LENGTH:
        raise RoomError("invalid", _("Each message needs a client_id of 1 to 64 characters."))
    if not isinstance(body, str):
        raise RoomError("invalid", _("The message must be text."))
    body = body.strip()
    if not body:
        raise RoomError("empty_message", _("Write something before sending."))
    if len(body) > MAX_MESSAGE_LENGTH:
        raise RoomError(
            "message_too_long",
            _("Messages can be up to %(max)d characters; this one has %(count)d.")
            % {"max": MAX_MESSAGE_LENGTH, "count": len(body)},
        )
    existing = RoomEvent.objects.filter(
        room_id=session.room_id, membership_id=session.membership_id, client_id=client_id
    ).first()
    author = _actor(session)
    if existing is not None:
        return events.event_frame(existing, author), False
    room = _open_room(session)
    now = timezone.now()
    participant = RoomParticipant.objects.filter(room=room, membership=author).first()
    if participant is not None and participant.muted_until is not None and participant.muted_until > now:
        # The time itself travels in `until`, for the page to show in the person's own zone.
        message = _("A facilitator muted you for now.")
        if participant.mute_reason:
            message += " " + _("Reason: %(reason)s") % {"reason": participant.mute_reason}
        raise RoomError("muted", message, until=events.iso(participant.muted_until))
    if author.timed_out_now(now):
        message = _("A facilitator paused your writing in this group's rooms.")
        if author.timeout_reason:
            message += " " + _("Reason: %(reason)s") % {"reason": author.timeout_reason}
        raise RoomError("timed_out", message, until=events.iso(author.timeout_until))
    if (
        room.phase == Room.Phase.SHARES
        and room.no_crosstalk
        and not session.is_facilitator
        and room.sharer_id != session.membership_id
    ):
        raise RoomError(
            "crosstalk",
            _("It's someone's turn to share: only they and the facilitators write now. You can still react."),
        )
    if room.slow_mode_seconds and not session.is_facilitator:
        last = (
            RoomEvent.objects.filter(room=room, membership=author, kind=RoomEvent.Kind.MESSAGE)
            .order_by("-seq")
            .values_list("created_at", flat=True)
            .first()
        )
        if last is not None and (now - last).total_seconds() < room.slow_mode_seconds:
            wait = room.slow_mode_seconds - int((now - last).total_seconds())
            raise RoomError(
                "slow_mode",
                _("Slow mode is on: one message every %(seconds)s.") % {"seconds": _seconds(room.slow_mode_seconds)}
                + " "
                + _("You can write again in %(wait)s.") % {"wait": _seconds(wait)},
                retry_after=wait,
            )
    if not ratelimit.allow(
        f"room:{room.pk}:member:{author.pk}", settings.ROOM_MESSAGES_PER_WINDOW, settings.ROOM_RATE_WINDOW_SECONDS
    ):
        raise RoomError(
            "rate_limited",
            _("You're sending messages very fast. Take a breath and try again in a few seconds."),
            retry_after=settings.ROOM_RATE_WINDOW_SECONDS,
        )
    watched = rules.watched_word_matches(session.group_id, body)
    if WatchedWord.Action.BLOCK in watched:
        if WatchedWord.Action.CRISIS in watched:
            # Refused, but someone who may be in crisis still gets help, and the facilitators
            # still hear: sent now, since the refusal rolls this transaction back.
            _crisis(session, None, author, now=True)
        raise RoomError(
            "watched_word",
            _("Your message wasn't sent: “%(phrase)s” isn't allowed in this group. Please put it another way.")
            % {"phrase": watched[WatchedWord.Action.BLOCK]},
        )
    try:
        with transaction.atomic():
            event = RoomEvent.objects.create(
                room=room,
                seq=_next_seq(room.pk, message=True),
                kind=RoomEvent.Kind.MESSAGE,
                membership=author,
                client_id=client_id,
                body=body,
            )
    except IntegrityError:
        # The same client_id raced in on another socket: that one is the message.
        event = RoomEvent.objects.get(room=room, membership=author, client_id=client_id)
        return events.event_frame(event, author), False
    frame = _publish_event(session, event, author)
    if WatchedWord.Action.CRISIS in watched:
        _crisis(session, event, author)
    if WatchedWord.Action.FLAG in watched:
        moderation.file_watched_word_report(event, watched[WatchedWord.Action.FLAG])
    return frame, True


def _crisis(session: RoomSession, event: RoomEvent | None, author: Membership, *, now: bool = False) -> None:
    """The sender privately gets crisis resources for their region; the room's facilitators
    get a private alert. Nobody else sees anything. `event` is None when the message itself
    was refused (a blocked word too); then both go out `now`, not after a commit."""
    user = author.user
    region = crisis.all_regions()[crisis.region_for_timezone(user.timezone)]
    with translation.override(user.language):
        message = _(
            "You're not alone. If you are in danger or thinking of harming yourself, help is there "
            "right now. Only you can see this."
        )
    if event is not None:
        alert = _("%(handle)s may be in crisis (message %(seq)d). Crisis resources were sent to them privately.") % {
            "handle": author.handle,
            "seq": event.seq,
        }
    else:
        alert = _(
            "%(handle)s may be in crisis (in a message that was not sent). Crisis resources were sent to "
            "them privately."
        ) % {"handle": author.handle}
    send = publish if now else publish_on_commit
    send(
        session.member_group,
        events.notice_frame(
            "crisis",
            message,
            region=region["name"],
            emergency=region["emergency"],
            resources=list(region["resources"]),
            help_url=reverse("help"),
        ),
    )
    send(
        events.facilitators_group(session.room_id),
        {
            "type": "alert",
            "kind": "crisis",
            "seq": event.seq if event is not None else None,
            **events.person(author),
            "message": alert,
        },
    )


@transaction.atomic
def do_delete_message(session: RoomSession, seq: int, reason: str = "") -> None:
    """Members delete their own messages; facilitators any (recorded, with the reason)."""
    message = (
        RoomEvent.objects.select_for_update()
        .filter(room_id=session.room_id, seq=seq, kind=RoomEvent.Kind.MESSAGE)
        .select_related("membership")
        .first()
    )
    if message is None:
        raise RoomError("not_found", _("There is no message %(seq)s.") % {"seq": seq})
    own = message.membership_id == session.membership_id
    if not own and not session.is_facilitator:
        raise RoomError("not_allowed", _("You can delete only your own messages."))
    if message.deleted_at is not None:
        raise RoomError("already_deleted", _("This message is already deleted."))
    room = _open_room(session)
    actor = _actor(session)
    message.deleted_at = timezone.now()
    message.save(update_fields=["deleted_at"])
    deletion = RoomEvent.objects.create(
        room=room, seq=_next_seq(room.pk), kind=RoomEvent.Kind.DELETION, membership=actor, target_seq=seq
    )
    if not own:
        _log(session, "delete_message", target=message.membership, reason=reason, seq=seq)
    _publish_event(session, deletion, actor)


@transaction.atomic
def do_react(session: RoomSession, seq: int, reaction: str, on: bool) -> None:
    if reaction not in events.REACTIONS:
        raise RoomError("invalid", _("Reactions are: %(names)s.") % {"names": ", ".join(events.REACTIONS)})
    target = RoomEvent.objects.filter(room_id=session.room_id, seq=seq, kind=RoomEvent.Kind.MESSAGE).first()
    if target is None or target.deleted_at is not None:
        raise RoomError("not_found", _("There is no message %(seq)s.") % {"seq": seq})
    room = _open_room(session)
    actor = _actor(session)
    latest = (
        RoomEvent.objects.filter(
            room=room, membership=actor, kind=RoomEvent.Kind.REACTION, target_seq=seq, reaction=reaction
        )
        .order_by("-seq")
        .first()
    )
    if (latest is not None and latest.reaction_on) == on:
        return  # already so: nothing to record
    event = RoomEvent.objects.create(
        room=room,
        seq=_next_seq(room.pk),
        kind=RoomEvent.Kind.REACTION,
        membership=actor,
        target_seq=seq,
        reaction=reaction,
        reaction_on=on,
    )
    _publish_event(session, event, actor)


@transaction.atomic
def do_set_hand(session: RoomSession, raised: bool) -> None:
    _open_room(session)
    _actor(session)
    participant = RoomParticipant.objects.select_for_update().get(
        room_id=session.room_id, membership_id=session.membership_id
    )
    if raised == (participant.hand_raised_at is not None):
        return
    participant.hand_raised_at = timezone.now() if raised else None
    participant.save(update_fields=["hand_raised_at"])
    publish_on_commit(session.room_group, events.hands_frame(_hands(session.room_id)))


# --- Facilitator controls ------------------------------------------------------------------


def _require_facilitator(session: RoomSession) -> None:
    if not session.is_facilitator:
        raise RoomError("not_facilitator", _("Only the meeting's facilitators can do that."))
    if not runs_meeting(_actor(session), Meeting.objects.get(pk=session.meeting_id)):
        raise RoomError("not_facilitator", _("Only the meeting's facilitators can do that."))


def _participant(session: RoomSession, member: str) -> RoomParticipant:
    participant = (
        RoomParticipant.objects.select_for_update()
        .select_related("membership__user")
        .filter(room_id=session.room_id, membership__public_id=member)
        .first()
    )
    if participant is None:
        raise RoomError("not_found", _("That person hasn't been in this room."))
    return participant


def _publish_state(session: RoomSession, room: Room) -> None:
    room.refresh_from_db()
    publish_on_commit(session.room_group, _state(room))


@transaction.atomic
def do_give_floor(session: RoomSession, member: str) -> None:
    """Give the floor to a member (their hand goes down) and start their share timer."""
    _require_facilitator(session)
    room = _open_room(session)
    participant = _participant(session, member)
    if participant.removed_at is not None:
        raise RoomError("invalid", _("That person was removed from this meeting."))
    room.sharer = participant.membership
    room.share_ends_at = timezone.now() + timedelta(minutes=room.meeting.group.share_minutes)
    room.save(update_fields=["sharer", "share_ends_at"])
    if participant.hand_raised_at is not None:
        participant.hand_raised_at = None
        participant.save(update_fields=["hand_raised_at"])
        publish_on_commit(session.room_group, events.hands_frame(_hands(session.room_id)))
    _log(session, "give_floor", target=participant.membership)
    _publish_state(session, room)


@transaction.atomic
def do_end_share(session: RoomSession) -> None:
    _require_facilitator(session)
    room = _open_room(session)
    room.sharer = None
    room.share_ends_at = None
    room.save(update_fields=["sharer", "share_ends_at"])
    _log(session, "end_share")
    _publish_state(session, room)


@transaction.atomic
def do_set_phase(session: RoomSession, phase: str, no_crosstalk: bool | None = None) -> None:
    _require_facilitator(session)
    if phase not in Room.Phase.values:
        raise RoomError("invalid", _("Phases are: %(names)s.") % {"names": ", ".join(Room.Phase.values)})
    room = _open_room(session)
    room.phase = phase
    if no_crosstalk is not None:
        room.no_crosstalk = bool(no_crosstalk)
    if phase != Room.Phase.SHARES:
        room.sharer = None
        room.share_ends_at = None
    room.save(update_fields=["phase", "no_crosstalk", "sharer", "share_ends_at"])
    _log(session, "phase", phase=phase, no_crosstalk=room.no_crosstalk)
    _publish_state(session, room)


@transaction.atomic
def do_mute(session: RoomSession, member: str, minutes: int, reason: str) -> None:
    """Mute a member for some minutes; they are told why, and can still read and react."""
    _require_facilitator(session)
    if not isinstance(minutes, int) or not 1 <= minutes <= MAX_MUTE_MINUTES:
        raise RoomError("invalid", _("Mute for 1 minute to 24 hours."))
    _open_room(session)
    participant = _participant(session, member)
    if participant.membership_id == session.membership_id:
        raise RoomError("invalid", _("You can't mute yourself."))
    participant.muted_until = timezone.now() + timedelta(minutes=minutes)
    participant.mute_reason = (reason or "").strip()[:500]
    participant.save(update_fields=["muted_until", "mute_reason"])
    _log(session, "mute", target=participant.membership, reason=participant.mute_reason, minutes=minutes)
    with translation.override(participant.membership.user.language):
        message = ngettext(
            "A facilitator muted you for %(minutes)d minute.",
            "A facilitator muted you for %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}
        if participant.mute_reason:
            message += " " + _("Reason: %(reason)s") % {"reason": participant.mute_reason}
    publish_on_commit(
        events.member_group(session.room_id, participant.membership_id),
        events.notice_frame(
            "muted", message, until=events.iso(participant.muted_until), reason=participant.mute_reason
        ),
    )


@transaction.atomic
def do_unmute(session: RoomSession, member: str) -> None:
    _require_facilitator(session)
    _open_room(session)
    participant = _participant(session, member)
    participant.muted_until = None
    participant.mute_reason = ""
    participant.save(update_fields=["muted_until", "mute_reason"])
    _log(session, "unmute", target=participant.membership)
    with translation.override(participant.membership.user.language):
        frame = events.notice_frame("unmuted", _("You can write again."))
    publish_on_commit(events.member_group(session.room_id, participant.membership_id), frame)


@transaction.atomic
def do_remove(session: RoomSession, member: str, reason: str) -> None:
    """Remove a member from this meeting: their sockets close at once and they can't rejoin it."""
    _require_facilitator(session)
    _open_room(session)
    participant = _participant(session, member)
    if participant.membership_id == session.membership_id:
        raise RoomError("invalid", _("You can't remove yourself."))
    participant.removed_at = timezone.now()
    participant.hand_raised_at = None
    participant.save(update_fields=["removed_at", "hand_raised_at"])
    room = Room.objects.select_for_update().get(pk=session.room_id)
    if room.sharer_id == participant.membership_id:
        room.sharer = None
        room.share_ends_at = None
        room.save(update_fields=["sharer", "share_ends_at"])
        _publish_state(session, room)
    reason = (reason or "").strip()[:500]
    _log(session, "remove", target=participant.membership, reason=reason)
    with translation.override(participant.membership.user.language):
        message = _("A facilitator removed you from this meeting.")
        if reason:
            message += " " + _("Reason: %(reason)s") % {"reason": reason}
    send_to_group_on_commit(
        events.member_group(session.room_id, participant.membership_id),
        {"type": "room.close", "frame": events.notice_frame("removed", message, reason=reason), "code": 4403},
    )
    publish_on_commit(session.room_group, events.hands_frame(_hands(session.room_id)))


@transaction.atomic
def do_lock(session: RoomSession, locked: bool) -> None:
    _require_facilitator(session)
    room = _open_room(session)
    room.locked = bool(locked)
    room.save(update_fields=["locked"])
    _log(session, "lock" if locked else "unlock")
    _publish_state(session, room)


@transaction.atomic
def do_slow_mode(session: RoomSession, seconds: int) -> None:
    _require_facilitator(session)
    if not isinstance(seconds, int) or not 0 <= seconds <= MAX_SLOW_MODE_SECONDS:
        raise RoomError("invalid", _("Slow mode is 0 (off) to 300 seconds."))
    room = _open_room(session)
    room.slow_mode_seconds = seconds
    room.save(update_fields=["slow_mode_seconds"])
    _log(session, "slow_mode", seconds=seconds)
    _publish_state(session, room)


@transaction.atomic
def do_open_early(session: RoomSession) -> None:
    _require_facilitator(session)
    room = Room.objects.select_for_update().select_related("meeting").get(pk=session.room_id)
    if room.ended_at is not None or room.meeting.is_cancelled:
        raise RoomError("ended", _("This meeting has ended. Its room is closed."), closes=True)
    if is_open(room.meeting, room):
        raise RoomError("already_open", _("The room is already open."))
    room.opened_early_at = timezone.now()
    room.save(update_fields=["opened_early_at"])
    _log(session, "open_early")
    _publish_state(session, room)


@transaction.atomic
def do_end_room(session: RoomSession, reason: str = "") -> None:
    """End the meeting: every socket gets a notice and closes; the transcript becomes
    readable by the group's facilitators only."""
    _require_facilitator(session)
    room = Room.objects.select_for_update().get(pk=session.room_id)
    if room.ended_at is not None:
        raise RoomError("ended", _("This meeting has ended. Its room is closed."), closes=True)
    room.ended_at = timezone.now()
    room.save(update_fields=["ended_at"])
    _log(session, "end", reason=reason)
    RoomParticipant.objects.filter(room=room).update(hand_raised_at=None)
    send_to_group_on_commit(
        session.room_group,
        {
            "type": "room.close",
            "frame": events.notice_frame("ended", _("The facilitators ended the meeting. Thank you for being here.")),
            "code": 4000,
        },
    )


# --- Moderation from the room ----------------------------------------------------------------


def _moderation_error(error: ActionError) -> RoomError:
    return RoomError("invalid", error.message)


def do_report(session: RoomSession, seq: int, category: str, details: str, wish: str) -> dict[str, Any]:
    """Report a message of this room. The answer goes to the reporter only."""
    reporter = _actor(session)
    if not RoomEvent.objects.filter(room_id=session.room_id, seq=seq, kind=RoomEvent.Kind.MESSAGE).exists():
        raise RoomError("not_found", _("There is no message %(seq)s.") % {"seq": seq})
    meeting_id = Meeting.objects.values_list("public_id", flat=True).get(pk=session.meeting_id)
    try:
        report = moderation.do_report_message(reporter, meeting_id, seq, category=category, details=details, wish=wish)
    except ActionError as error:
        raise _moderation_error(error) from error
    return {
        "type": "reported",
        "seq": seq,
        "report": report.public_id,
        "message": _(
            "Thank you for telling the facilitators. They will look at it. The person you reported "
            "won't know it was you."
        ),
    }


def do_block_member(session: RoomSession, member: str, on: bool) -> dict[str, Any]:
    """Hide (or show again) someone's messages, for this person only. Nobody else is told."""
    blocker = _actor(session)
    if not Membership.objects.filter(group_id=session.group_id, public_id=member).exists():
        raise RoomError("not_found", _("There is no such member in this group."))
    try:
        if on:
            moderation.do_block(blocker, member)
        else:
            moderation.do_unblock(blocker, member)
    except ActionError as error:
        raise _moderation_error(error) from error
    return {"type": "blocked", "member": member, "on": on}


def hidden_for(session: RoomSession) -> set[str]:
    return rules.hidden_members(session.membership_id)


def reports_frame(session: RoomSession) -> dict[str, Any]:
    membership = Membership.objects.get(pk=session.membership_id)
    return {"type": "reports", "open": moderation.open_count_for(membership)}


def transcript(meeting: Meeting) -> list[RoomEvent]:
    """The messages of a meeting, for its group's facilitators once the room has closed."""
    room = Room.objects.filter(meeting=meeting).first()
    if room is None:
        return []
    return list(
        RoomEvent.objects.filter(room=room, kind=RoomEvent.Kind.MESSAGE).select_related("membership").order_by("seq")
    )

from django.db import migrations


def copy_room_controls(apps, schema_editor):
    """Room controls were kept per room (meetings.RoomAction); they now live in the audit log."""
    RoomAction = apps.get_model("meetings", "RoomAction")
    AuditEntry = apps.get_model("moderation", "AuditEntry")
    entries = []
    for action in RoomAction.objects.select_related("room__meeting", "actor", "target").order_by("pk").iterator():
        meeting = action.room.meeting
        entries.append(
            AuditEntry(
                group_id=meeting.group_id,
                actor_id=action.actor.user_id if action.actor else None,
                actor_label=action.actor.handle if action.actor else "",
                target_id=action.target_id,
                target_label=action.target.handle if action.target else "",
                action=f"room.{action.action}",
                reason=action.reason,
                detail={**action.detail, "meeting": meeting.public_id},
                created_at=action.created_at,
            )
        )
    AuditEntry.objects.bulk_create(entries, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0001_moderation"),
        ("meetings", "0004_notification_preferences"),
    ]

    operations = [migrations.RunPython(copy_room_controls, migrations.RunPython.noop)]

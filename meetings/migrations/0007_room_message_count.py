"""Room.message_count: how many messages were posted in a room, kept when the retention purge
deletes the messages themselves (docs/privacy.md, docs/console.md "Group health").

The column is added at 0, then filled for existing rooms from the room messages (`RoomEvent`
rows of kind *message*, deleted ones included) still in the database: one aggregate query, then
a bulk update of the rooms that have any. A room whose transcript was already purged (wholly or
partly) gets what is left, so 0 for a fully purged room: the number that was there is gone and
cannot be rebuilt. Likewise messages of erased accounts, deleted with the account, are not
counted. From this migration on, `room_actions._next_seq` keeps the count as messages are posted.

Reversing drops the column; the data step's reverse does nothing.
"""

from django.db import migrations, models
from django.db.models import Count

BATCH_SIZE = 1000


def count_kept_messages(apps, schema_editor):
    Room = apps.get_model("meetings", "Room")
    RoomEvent = apps.get_model("meetings", "RoomEvent")
    counts = (
        RoomEvent.objects.using(schema_editor.connection.alias)
        .filter(kind="message")
        .order_by()
        .values("room_id")
        .annotate(n=Count("*"))
        .values_list("room_id", "n")
    )
    rooms = [Room(pk=room_id, message_count=n) for room_id, n in counts]
    Room.objects.using(schema_editor.connection.alias).bulk_update(rooms, ["message_count"], batch_size=BATCH_SIZE)


class Migration(migrations.Migration):

    dependencies = [
        ('meetings', '0006_participant_entered'),
    ]

    operations = [
        migrations.AddField(
            model_name='room',
            name='message_count',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(count_kept_messages, migrations.RunPython.noop),
    ]

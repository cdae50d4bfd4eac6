from django.db import migrations

TOPICS = [
    ("trauma-bonding", "Trauma bonding"),
    ("domestic-abuse-recovery", "Domestic abuse recovery"),
    ("narcissistic-abuse", "Narcissistic and emotional abuse"),
    ("codependency", "Codependency"),
    ("leaving-and-staying-out", "Leaving and staying out"),
    ("coercive-control", "Coercive control"),
    ("co-parenting", "Co-parenting after abuse"),
    ("family-and-friends", "Family and friends of survivors"),
    ("lgbtq-survivors", "LGBTQ+ survivors"),
    ("men-survivors", "Men survivors"),
]


def add_topics(apps, schema_editor):
    Topic = apps.get_model("groups", "Topic")
    for position, (slug, name) in enumerate(TOPICS):
        Topic.objects.get_or_create(slug=slug, defaults={"name": name, "position": position})


def remove_topics(apps, schema_editor):
    apps.get_model("groups", "Topic").objects.filter(slug__in=[slug for slug, _ in TOPICS]).delete()


class Migration(migrations.Migration):
    dependencies = [("groups", "0001_initial")]
    operations = [migrations.RunPython(add_topics, remove_topics)]

import pytest

from pb.core.models import Phase
from tests.factories import CategoryFactory, ElectionFactory, PotFactory, official


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is a cost per created user, not something these tests check.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# The import tests' election (test_import_export, test_import_jobs): in review, two pots and two categories
# named as in their CSV rows. Test modules that need another election define their own `election`.
@pytest.fixture
def election():
    e = ElectionFactory(phase=Phase.REVIEW, slug="riverton")
    PotFactory(election=e, slug="north", name="North")
    PotFactory(election=e, slug="south", name="South")
    CategoryFactory(election=e, slug="parks", name="Parks")
    CategoryFactory(election=e, slug="roads", name="Roads")
    return e


@pytest.fixture
def off(client):
    user = official()
    client.force_login(user)
    return user

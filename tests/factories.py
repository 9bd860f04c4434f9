"""factory-boy factories shared by all tests."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from pb.core.models import Category, Election, Phase, Pot, Role
from proposals.models import Proposal, ProposalStatus


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("pw-for-tests-only")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for role in extracted or ():
            self.groups.add(Group.objects.get_or_create(name=role)[0])
        if create:
            self.save()  # the password set by factory.django.Password must be stored


def official(**kw):
    return UserFactory(roles=[Role.OFFICIAL], **kw)


def council(**kw):
    return UserFactory(roles=[Role.COUNCIL], **kw)


class ElectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Election

    name = factory.Sequence(lambda n: f"Test City PB {n}")
    slug = factory.Sequence(lambda n: f"test-pb-{n}")
    city = "Test City"
    phase = Phase.DRAFT
    min_age = 16
    age_reference_date = dt.date(2026, 6, 1)


class PotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pot

    election = factory.SubFactory(ElectionFactory)
    name = factory.Sequence(lambda n: f"District {n}")
    slug = factory.Sequence(lambda n: f"district-{n}")
    budget = 100_000


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    election = factory.SubFactory(ElectionFactory)
    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ProposalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Proposal

    pot = factory.SubFactory(PotFactory)
    election = factory.SelfAttribute("pot.election")
    code = factory.Sequence(lambda n: f"P{n:03d}")
    title = factory.Sequence(lambda n: f"Project {n}")
    description = "A useful project for the neighbourhood."
    cost = 10_000
    status = ProposalStatus.FEASIBLE

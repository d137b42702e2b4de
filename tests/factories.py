import factory

from accounts.models import User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    openid = factory.Sequence(lambda n: f"o-test-openid-{n:06d}")
    nickname = factory.Sequence(lambda n: f"用户{n}")
    avatar_url = "https://example.com/avatar.png"
    password = factory.django.Password("pw-Secret-123")

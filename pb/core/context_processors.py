from pb.core.models import Role, user_roles


def roles(request):
    r = user_roles(request.user) if hasattr(request, "user") else set()
    return {"is_official": Role.OFFICIAL in r, "is_council": Role.COUNCIL in r}

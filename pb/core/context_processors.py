from pb.core.models import Role, user_roles_anywhere


def roles(request):
    # Navigation only: a role held on any election. Every page and action checks the election's own roles.
    r = user_roles_anywhere(request.user) if hasattr(request, "user") else set()
    return {"is_official": Role.OFFICIAL in r, "is_council": Role.COUNCIL in r}

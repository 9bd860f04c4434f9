"""Residents' accounts: our part around django-allauth (sign-up, confirmation, sign-in, reset and e-mail
change are allauth's). Here: the login stage that lets administrator-made accounts in without an e-mail
address, the download of one's data, account deletion, and the hook registry through which higher apps
export and erase what they hold about an account."""

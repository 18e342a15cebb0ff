"""French for the service errors members meet most on the pages.

The services speak English (their messages also go to the API and the command line); the
pages show these in French when the page is French. A message not listed here is shown as
the service said it. Patterns match the whole message; named groups carry the values over.
"""

import re

FRENCH_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), french)
    for pattern, french in (
        # pages and logging in
        (
            r"This form has expired or did not come from this site",
            "Ce formulaire a expiré ou ne vient pas de ce site",
        ),
        (
            r"Only the co-op's admins see this page",
            "Seuls les admins de la coopérative voient cette page",
        ),
        (r"Invalid username or password", "Nom d'utilisateur ou mot de passe incorrect"),
        (r"Record not found", "Introuvable"),
        (
            r"this account is (?P<status>\w+): it cannot log in",
            "ce compte est {status} : il ne peut pas se connecter",
        ),
        # joining and membership
        (
            r"the name '(?P<name>[^']*)' is already taken on (?P<domain>\S+)",
            "le nom « {name} » est déjà pris sur {domain}",
        ),
        (r"the name '(?P<name>[^']*)' is reserved", "le nom « {name} » est réservé"),
        (r"user '(?P<name>[^']*)' already exists", "le nom « {name} » est déjà pris"),
        (
            r"password too short: use at least (?P<n>\d+) characters",
            "mot de passe trop court : au moins {n} caractères",
        ),
        (r"password is required", "le mot de passe est obligatoire"),
        (
            r"this invitation is unknown, used up or expired",
            "cette invitation est inconnue, épuisée ou expirée",
        ),
        (
            r"your application is waiting for an admin",
            "votre candidature attend une personne de l'administration",
        ),
        (r"you are already a member", "vous êtes déjà membre"),
        (
            r"an admin cannot remove themselves: make another admin, then leave",
            "un admin ne peut pas se retirer : nommez un autre admin, puis partez",
        ),
        (r"an admin cannot demote themselves", "un admin ne peut pas se rétrograder"),
        # rides and bookings
        (r"this is your own ride", "c'est votre propre trajet"),
        (r"this trip has left", "ce trajet est déjà parti"),
        (r"this trip has not left yet", "ce trajet n'est pas encore parti"),
        (r"not enough seats left \((?P<n>\d+) left\)", "pas assez de places ({n} restantes)"),
        (r"not enough seats left on this trip", "plus assez de places sur ce trajet"),
        (
            r"you already asked for seats on this trip",
            "vous avez déjà demandé des places sur ce trajet",
        ),
        (
            r"this booking changed meanwhile; reload it",
            "cette réservation a changé entre-temps ; rechargez la page",
        ),
        (r"this ride has no trip left", "ce trajet n'a plus de départ"),
        (
            r"a fixed price may not exceed (?P<cap>\S+) (?P<unit>\S+) per seat for this "
            r"(?P<km>[\d.]+) km trip \((?P<rate>\S+) \S+\): carpooling shares costs, "
            r"it is not a taxi",
            "le prix ne peut pas dépasser {cap} {unit} par place pour ce trajet de {km} km "
            "({rate} {unit}/km) : le covoiturage partage les frais, ce n'est pas un taxi",
        ),
        (r"seats must be a whole number 1–(?P<n>\d+)", "le nombre de places va de 1 à {n}"),
        (r"departure must be a date and a time", "le départ doit être une date et une heure"),
        (r"you already reviewed this trip", "vous avez déjà évalué ce trajet"),
        (
            r"a review is only possible after a completed trip",
            "une évaluation n'est possible qu'après un trajet effectué",
        ),
        (r"rating must be a whole number 1–5", "la note va de 1 à 5"),
        (r"at most (?P<n>\d+) saved searches", "au plus {n} recherches enregistrées"),
        # votes
        (r"voting on this proposal is closed", "le vote sur cette proposition est clos"),
        (r"this proposal is already closed", "cette proposition est déjà close"),
        (r"(?P<field>\w+) names '(?P<option>[^']*)' twice", "{field} cite « {option} » deux fois"),
        (
            r"pick 1 to (?P<most>\d+) options, not (?P<n>\d+)",
            "choisissez de 1 à {most} options, pas {n}",
        ),
        (r"score at least one option", "notez au moins une option"),
        # my data and moderation
        (
            r"wrong password: the account was not deleted",
            "mot de passe incorrect : le compte n'a pas été supprimé",
        ),
        (
            r"the last admin cannot delete their account: make another admin first",
            "le dernier admin ne peut pas supprimer son compte : nommez d'abord un autre admin",
        ),
        (r"an account cannot be its own alias", "un compte ne peut pas être son propre alias"),
        (r"an account cannot move to itself", "un compte ne peut pas déménager vers lui-même"),
        (
            r"(?P<target>\S+) must first list this account \((?P<me>\S+)\) among its aliases",
            "{target} doit d'abord indiquer ce compte ({me}) parmi ses alias",
        ),
        (r"cannot find the account (?P<text>\S+): .*", "impossible de trouver le compte {text}"),
        (
            r"choose a file: an archive \(\.zip\) or a Mastodon CSV",
            "choisissez un fichier : une archive (.zip) ou un CSV de Mastodon",
        ),
        (
            r"a co-op cannot partner with itself",
            "une coopérative ne peut pas être sa propre partenaire",
        ),
        (
            r"a co-op cannot block its own domain",
            "une coopérative ne peut pas bloquer son propre domaine",
        ),
        (
            r"invalid domain '(?P<domain>[^']*)': expected HOST or HOST:PORT, e\.g\. coop\.example",
            "domaine « {domain} » invalide : attendu HÔTE ou HÔTE:PORT, par ex. coop.example",
        ),
        (r"the name needs 1–(?P<n>\d+) characters", "le nom doit faire de 1 à {n} caractères"),
    )
)


def in_french(message: str) -> str:
    """Return the French of a known service error, or the message as it is."""
    for pattern, french in FRENCH_ERRORS:
        match = pattern.fullmatch(message)
        if match:
            return french.format(**match.groupdict())
    return message

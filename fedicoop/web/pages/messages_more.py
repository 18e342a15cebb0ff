"""The words of the pages added with my data, the co-op's admin pages, alerts, reviews,
verification, the public profile and /join: key → (English, French)."""

MORE_MESSAGES: dict[str, tuple[str, str]] = {
    # navigation and start page
    "nav_account": ("My data", "Mes données"),
    "nav_admin": ("Admin", "Administration"),
    "nav_partners": ("Partner co-ops", "Coopératives partenaires"),
    "nav_moderation": ("Moderation", "Modération"),
    "nav_settings": ("Settings", "Réglages"),
    "admin_nav_label": ("Admin pages", "Pages d'administration"),
    "home_alerts": (
        "Searches you saved, and the new rides they found.",
        "Vos recherches enregistrées et les nouveaux trajets trouvés.",
    ),
    "home_account": (
        "Download your data, import it, move or delete your account.",
        "Téléchargez vos données, importez-les, déménagez ou supprimez votre compte.",
    ),
    "home_partners": (
        "Co-ops we share rides and votes with.",
        "Les coopératives avec qui nous partageons trajets et votes.",
    ),
    "home_moderation": (
        "Blocked servers and reports received.",
        "Serveurs bloqués et signalements reçus.",
    ),
    "home_settings": (
        "The co-op's name, description, language; invitations.",
        "Nom, description et langue de la coopérative ; invitations.",
    ),
    "save": ("Save", "Enregistrer"),
    "too_large": (
        "The file is too big for this form. An admin can import it with "
        "fedicoop import-account, or an app through the API.",
        "Le fichier est trop gros pour ce formulaire. Une personne de l'administration peut "
        "l'importer avec fedicoop import-account, ou une appli par l'API.",
    ),
    # my data
    "export_title": ("Download my data", "Télécharger mes données"),
    "export_intro": (
        "One archive (.zip) with your posts, follows, rides, bookings, votes and pictures, "
        "signed by the co-op so another server can check where it comes from.",
        "Une archive (.zip) avec vos messages, abonnements, trajets, réservations, votes et "
        "images, signée par la coopérative pour qu'un autre serveur puisse en vérifier "
        "l'origine.",
    ),
    "export_button": ("Download my archive", "Télécharger mon archive"),
    "import_title": ("Import", "Importer"),
    "import_intro": (
        "An archive from another fedicoop or from Mastodon, or one of Mastodon's CSV lists "
        "(follows, blocks, mutes, blocked domains, bookmarks).",
        "Une archive d'un autre fedicoop ou de Mastodon, ou l'une des listes CSV de Mastodon "
        "(abonnements, blocages, masquages, domaines bloqués, signets).",
    ),
    "import_file": ("File", "Fichier"),
    "import_type": ("What a CSV file holds", "Contenu d'un fichier CSV"),
    "import_type_guess": ("Guess from the file", "Deviner d'après le fichier"),
    "csv_following": ("Accounts I follow", "Comptes suivis"),
    "csv_blocking": ("Blocked accounts", "Comptes bloqués"),
    "csv_muting": ("Muted accounts", "Comptes masqués"),
    "csv_domain_blocking": ("Blocked domains", "Domaines bloqués"),
    "csv_bookmarks": ("Bookmarks", "Signets"),
    "import_limit": (
        "Up to 16 MB here; bigger archives go through an app or the command line.",
        "Jusqu'à 16 Mo ici ; les archives plus grosses passent par une appli ou la ligne de "
        "commande.",
    ),
    "import_button": ("Import", "Importer"),
    "import_done": ("Import finished", "Import terminé"),
    "import_source_fedicoop": ("A signed fedicoop archive", "Une archive fedicoop signée"),
    "import_source_mastodon": (
        "A Mastodon archive (not signed: not verified)",
        "Une archive Mastodon (non signée : non vérifiée)",
    ),
    "import_source_csv": ("A Mastodon CSV list", "Une liste CSV de Mastodon"),
    "import_verified": ("signature checked: {signer}", "signature vérifiée : {signer}"),
    "import_imported": ("Imported", "Importé"),
    "import_skipped": ("Left out", "Laissé de côté"),
    "import_problems": ("Problems", "Problèmes"),
    "aliases_title": ("My former accounts", "Mes anciens comptes"),
    "aliases_intro": (
        "Coming from another server? Name your old account here first; then move it to this "
        "one from the old server. Your followers follow you here.",
        "Vous venez d'un autre serveur ? Indiquez d'abord ici votre ancien compte, puis "
        "déménagez-le vers celui-ci depuis l'ancien serveur. Vos abonnés vous suivront ici.",
    ),
    "alias_field": ("Old account (name@server)", "Ancien compte (nom@serveur)"),
    "alias_add": ("Add this alias", "Ajouter cet alias"),
    "done_alias": ("Alias added.", "Alias ajouté."),
    "move_title": ("Move to another account", "Déménager vers un autre compte"),
    "move_intro": (
        "Your followers are told and follow the new account; this one can no longer post. "
        "The new account must first list this one among its aliases.",
        "Vos abonnés sont prévenus et suivent le nouveau compte ; celui-ci ne peut plus "
        "publier. Le nouveau compte doit d'abord indiquer celui-ci parmi ses alias.",
    ),
    "move_field": ("New account (name@server)", "Nouveau compte (nom@serveur)"),
    "move_button": ("Move my account", "Déménager mon compte"),
    "moved_to": ("This account has moved to {target}.", "Ce compte a déménagé vers {target}."),
    "done_moved": ("Your account has moved.", "Votre compte a déménagé."),
    "delete_title": ("Delete my account", "Supprimer mon compte"),
    "delete_intro": (
        "You are logged out at once, your rides are cancelled and your bookings withdrawn. "
        "What you wrote is erased after 30 days. Download your data first if you want it.",
        "Vous êtes déconnecté tout de suite, vos trajets sont annulés et vos réservations "
        "retirées. Ce que vous avez écrit est effacé après 30 jours. Téléchargez d'abord vos "
        "données si vous les voulez.",
    ),
    "delete_password": ("Your password, to confirm", "Votre mot de passe, pour confirmer"),
    "delete_button": ("Delete my account for good", "Supprimer définitivement mon compte"),
    "deleted_title": ("Account deleted", "Compte supprimé"),
    "deleted_text": (
        "Your account is deleted. What you wrote is erased in {days} days.",
        "Votre compte est supprimé. Ce que vous avez écrit sera effacé dans {days} jours.",
    ),
    # partnerships
    "partners_intro": (
        "A partnership is agreed by both co-ops' admins: then rides and votes are shared.",
        "Un partenariat est accepté par les admins des deux coopératives : trajets et votes "
        "sont alors partagés.",
    ),
    "partner_offered": ("waiting for their answer", "en attente de leur réponse"),
    "partner_requested": ("asks to partner with us", "demande un partenariat"),
    "partner_active": ("partner", "partenaire"),
    "partner_hint_offered": (
        "We offered; their admins have not accepted yet.",
        "Nous avons proposé ; leurs admins n'ont pas encore accepté.",
    ),
    "partner_hint_requested": (
        "They offered: approve to become partners, or decline.",
        "Ils ont proposé : acceptez pour devenir partenaires, ou refusez.",
    ),
    "partner_hint_active": (
        "Rides and votes are shared with this co-op.",
        "Trajets et votes sont partagés avec cette coopérative.",
    ),
    "partner_approve": ("Approve", "Accepter"),
    "partner_end_offered": ("Withdraw the offer", "Retirer la proposition"),
    "partner_end_requested": ("Decline", "Refuser"),
    "partner_end_active": ("End the partnership", "Mettre fin au partenariat"),
    "partner_request_title": ("Offer a partnership", "Proposer un partenariat"),
    "partner_handle": ("The co-op's handle", "L'identifiant de la coopérative"),
    "partner_handle_hint": (
        "As shown on its front page, e.g. velo@coop.example.",
        "Tel qu'affiché sur sa page d'accueil, par ex. velo@coop.example.",
    ),
    "partner_request": ("Send the offer", "Envoyer la proposition"),
    "done_partner_requested": (
        "Offer sent; the partnership starts when they accept.",
        "Proposition envoyée ; le partenariat commence quand ils acceptent.",
    ),
    "done_partner_approved": ("You are partners now.", "Vous êtes maintenant partenaires."),
    "done_partner_ended": ("Partnership ended.", "Partenariat terminé."),
    # moderation
    "reports_title": ("Reports received", "Signalements reçus"),
    "report_from": ("From {reporter}", "De {reporter}"),
    "report_about": ("About:", "Concerne :"),
    "report_open": ("to look at", "à examiner"),
    "report_resolved": ("dealt with", "traité"),
    "report_resolve": ("Mark as dealt with", "Marquer comme traité"),
    "no_reports": ("No report received.", "Aucun signalement reçu."),
    "done_resolved": ("Report marked as dealt with.", "Signalement marqué comme traité."),
    "blocks_title": ("Blocked servers", "Serveurs bloqués"),
    "blocks_intro": (
        "Nothing from a blocked server (or its subdomains) reaches the co-op.",
        "Rien d'un serveur bloqué (ni de ses sous-domaines) n'atteint la coopérative.",
    ),
    "no_blocks": ("No server is blocked.", "Aucun serveur n'est bloqué."),
    "block_domain": ("Server to block (domain)", "Serveur à bloquer (domaine)"),
    "block": ("Block", "Bloquer"),
    "unblock": ("Unblock", "Débloquer"),
    "done_blocked": ("Server blocked.", "Serveur bloqué."),
    "done_unblocked": ("Server unblocked.", "Serveur débloqué."),
    # settings and invitations
    "settings_intro": (
        "What people see of the co-op. Saved at once, no restart needed; followers and "
        "partner co-ops get the new name and description.",
        "Ce que l'on voit de la coopérative. Enregistré tout de suite, sans redémarrage ; "
        "abonnés et coopératives partenaires reçoivent le nouveau nom et la description.",
    ),
    "settings_name": ("Name", "Nom"),
    "settings_description": ("Description (about the co-op)", "Description (à propos)"),
    "settings_language": (
        "Language of the pages when the browser asks for neither",
        "Langue des pages quand le navigateur ne demande ni l'une ni l'autre",
    ),
    "settings_no_restart": (
        "Changes apply at once, without restarting the server.",
        "Les changements s'appliquent tout de suite, sans redémarrer le serveur.",
    ),
    "settings_fixed_title": ("Not editable here", "Non modifiable ici"),
    "settings_handle": ("Handle", "Identifiant"),
    "settings_fixed_hint": (
        "The domain and the handle name the co-op on the fediverse: changing them is a move "
        "(fedicoop move-coop on the server).",
        "Le domaine et l'identifiant désignent la coopérative sur le fédivers : les changer "
        "est un déménagement (fedicoop move-coop sur le serveur).",
    ),
    "done_settings": ("Settings saved.", "Réglages enregistrés."),
    "invites_title": ("Invitations", "Invitations"),
    "invites_intro": (
        "Whoever applies with an invitation link is a member at once.",
        "Qui candidate avec un lien d'invitation devient membre tout de suite.",
    ),
    "invite_uses": ("used {uses} of {max} times", "utilisée {uses} fois sur {max}"),
    "invite_expires": ("expires", "expire le"),
    "invite_max_uses": ("How many people", "Combien de personnes"),
    "invite_days": ("Valid for (days)", "Valable (jours)"),
    "invite_create": ("Make an invitation link", "Créer un lien d'invitation"),
    "done_invited": ("Invitation link made.", "Lien d'invitation créé."),
    # saved searches
    "alerts_title": ("Ride alerts", "Alertes trajets"),
    "alerts_intro": (
        "Save a search and hear of every new ride that fits it, here and in your Mastodon "
        "app's notifications.",
        "Enregistrez une recherche et soyez prévenu de chaque nouveau trajet qui convient, "
        "ici et dans les notifications de votre appli Mastodon.",
    ),
    "alerts_found": ("New rides for my searches", "Nouveaux trajets pour mes recherches"),
    "alert_on": ("found", "trouvé le"),
    "saved_searches": ("My saved searches", "Mes recherches enregistrées"),
    "no_saved_searches": (
        "No saved search. Search for a ride, then save the search.",
        "Aucune recherche enregistrée. Cherchez un trajet, puis enregistrez la recherche.",
    ),
    "alert_title": ("Alert me of new rides", "Me prévenir des nouveaux trajets"),
    "alert_hint": (
        "Save this search: each new ride that fits it is announced to you.",
        "Enregistrez cette recherche : chaque nouveau trajet qui convient vous est signalé.",
    ),
    "alert_any_time": ("whatever the time", "quelle que soit l'heure"),
    "alert_save": ("Save this search", "Enregistrer cette recherche"),
    "alert_delete": ("Delete", "Supprimer"),
    "done_saved": ("Search saved.", "Recherche enregistrée."),
    "done_deleted": ("Search deleted.", "Recherche supprimée."),
    # after the trip
    "finish_title": ("Did the trip happen?", "Le trajet a-t-il eu lieu ?"),
    "finish_yes": ("Yes, we travelled", "Oui, nous avons voyagé"),
    "finish_no": ("No, it did not happen", "Non, il n'a pas eu lieu"),
    "done_completed": ("Trip marked as done.", "Trajet marqué comme effectué."),
    "done_no_show": (
        "Trip marked as not having happened.",
        "Trajet marqué comme n'ayant pas eu lieu.",
    ),
    "review_title": ("Review {who}", "Évaluer {who}"),
    "review_rating": ("How did it go?", "Comment cela s'est-il passé ?"),
    "stars_5": ("5 of 5: very well", "5 sur 5 : très bien"),
    "stars_4": ("4 of 5: well", "4 sur 5 : bien"),
    "stars_3": ("3 of 5: all right", "3 sur 5 : correct"),
    "stars_2": ("2 of 5: not well", "2 sur 5 : pas bien"),
    "stars_1": ("1 of 5: badly", "1 sur 5 : mal"),
    "review_text": ("A few words (optional)", "Quelques mots (facultatif)"),
    "review_send": ("Send the review", "Envoyer l'évaluation"),
    "reviews_title": ("Reviews of this trip", "Évaluations de ce trajet"),
    "review_by": ("{author} about {subject}", "{author} sur {subject}"),
    "done_reviewed": ("Review sent.", "Évaluation envoyée."),
    # verification
    "verify_title": ("Check the count", "Vérifier le décompte"),
    "verify_intro": (
        "Anyone can recount a closed vote: this fetches the proposal, each co-op's signed "
        "list of members and every signed ballot from the host, checks each signature and "
        "counts again. It takes a moment, so it runs when you ask.",
        "Tout le monde peut recompter un vote clos : cela récupère chez la coopérative hôte "
        "la proposition, la liste signée des membres de chaque coopérative et chaque "
        "bulletin signé, vérifie chaque signature et recompte. Cela prend un moment, donc "
        "cela se fait à votre demande.",
    ),
    "verify_button": ("Check the count now", "Vérifier le décompte maintenant"),
    "verify_again": ("Check again", "Vérifier à nouveau"),
    "verify_ok": (
        "Verified: every signature is valid and the recount matches the published results.",
        "Vérifié : chaque signature est valide et le recomptage correspond aux résultats publiés.",
    ),
    "verify_problems": (
        "Not verified: the recount found problems.",
        "Non vérifié : le recomptage a trouvé des problèmes.",
    ),
    "verify_ballots": ("Signed ballots checked", "Bulletins signés vérifiés"),
    "verify_poll_ballots": (
        "Poll answers (not signed, taken on trust)",
        "Réponses de sondage (non signées, prises sur parole)",
    ),
    "verify_roster": ("Members of {coop}", "Membres de {coop}"),
    # public profile
    "coop_title": ("About", "À propos"),
    "coop_intro": ("A co-operative on the fediverse.", "Une coopérative sur le fédivers."),
    "coop_follow": (
        "Follow it from any Mastodon-compatible app:",
        "Suivez-la depuis toute appli compatible Mastodon :",
    ),
    "coop_members": ("{n} members", "{n} membres"),
    "coop_apps": (
        "Members log in from any Mastodon app (Tusky, Ivory, Elk, Phanpy…) at {url}, or on "
        "these pages.",
        "Les membres se connectent depuis toute appli Mastodon (Tusky, Ivory, Elk, Phanpy…) "
        "à l'adresse {url}, ou sur ces pages.",
    ),
    "coop_partners": ("Partner co-ops", "Coopératives partenaires"),
    "coop_rides": ("Open rides", "Trajets ouverts"),
    "coop_rides_hint": (
        "Places to within about 1 km; members see more and book.",
        "Lieux à 1 km près ; les membres en voient plus et réservent.",
    ),
    "coop_proposals": ("Open proposals", "Propositions ouvertes"),
    "coop_posts": ("Recent public posts", "Messages publics récents"),
    "profile_member": ("Member", "Membre"),
    "profile_coop": ("Co-op", "Coopérative"),
    "profile_moved": ("This account has moved to", "Ce compte a déménagé vers"),
    "profile_follow": (
        "Follow from any Mastodon-compatible app by searching for this address.",
        "Suivez depuis toute appli compatible Mastodon en recherchant cette adresse.",
    ),
    "post_title": ("Post", "Message"),
    "join_button": ("Join", "Nous rejoindre"),
    # join
    "join_title": ("Join {name}", "Rejoindre {name}"),
    "join_username": (
        "Username (lowercase letters, digits, _)",
        "Nom d'utilisateur (minuscules, chiffres, _)",
    ),
    "join_password": ("Password (at least 10 characters)", "Mot de passe (au moins 10 caractères)"),
    "join_email": ("Email (optional)", "Courriel (facultatif)"),
    "join_motivation": ("Why would you like to join?", "Pourquoi voulez-vous nous rejoindre ?"),
    "join_submit": ("Apply", "Envoyer ma candidature"),
    "join_invited": (
        "You have an invitation: you will be a member at once.",
        "Vous avez une invitation : vous serez membre tout de suite.",
    ),
    "join_pending": (
        "Thank you! An admin will look at your application; you can log in once it is approved.",
        "Merci ! Une personne de l'administration va examiner votre candidature ; vous "
        "pourrez vous connecter une fois acceptée.",
    ),
    "join_approved": (
        "Welcome! You are a member: log in here or from any Mastodon app at {url}.",
        "Bienvenue ! Vous êtes membre : connectez-vous ici ou depuis toute appli Mastodon à "
        "l'adresse {url}.",
    ),
}

# Shell functions shared by flaskapp's postinst and prerm (sourced, POSIX sh).
# They enable and disable the flaskapp nginx site the way Debian packages do:
# only where the admin has not decided otherwise, and never leaving nginx with a
# configuration that fails `nginx -t`.

FLASKAPP_NGINX=/etc/nginx
# What the package itself changed, so that only that is undone later (purge removes these).
FLASKAPP_MARKS=/var/lib/flaskapp/nginx
# Present once the package has enabled the site: from then on, whether it stays enabled
# is the admin's decision. The package's own remove takes it away with the link.
FLASKAPP_SITE_MARK=$FLASKAPP_MARKS/site-enabled-by-package
# Present when the package disabled Debian's default site; purge enables it again.
FLASKAPP_DEFAULT_MARK=$FLASKAPP_MARKS/default-disabled-by-package
# What nginx was last reloaded with, as far as flaskapp is concerned (see below).
FLASKAPP_LOADED_MARK=$FLASKAPP_MARKS/loaded-site.md5

flaskapp_nginx_check() {
    # Prints nginx's complaint and fails when the configuration is invalid.
    if ! out=$(nginx -t 2>&1); then
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        return 1
    fi
}

flaskapp_site_fingerprint() {
    # What nginx loads of flaskapp's doing: its site, whether that and the default site are
    # enabled. (Other sites are the admin's: they reload nginx themselves.)
    {
        cat "$FLASKAPP_NGINX/sites-available/flaskapp"
        ls -l "$FLASKAPP_NGINX/sites-enabled/flaskapp" "$FLASKAPP_NGINX/sites-enabled/default"
    } 2>/dev/null | md5sum
}

flaskapp_nginx_reload() {
    # Reloads nginx if it runs; a stopped nginx picks the configuration up when started.
    if systemctl is-active --quiet nginx.service 2>/dev/null; then
        deb-systemd-invoke reload nginx.service
    else
        echo "flaskapp: nginx is not running; the site is served once it is started"
    fi
    mkdir -p "$FLASKAPP_MARKS"
    flaskapp_site_fingerprint > "$FLASKAPP_LOADED_MARK"
}

flaskapp_nginx_reload_if_changed() {
    # A reload closes idle keep-alive connections, racing clients that reuse them: an
    # upgrade that leaves the site as it was does not reload nginx at all.
    if [ "$(flaskapp_site_fingerprint)" != "$(cat "$FLASKAPP_LOADED_MARK" 2>/dev/null)" ]; then
        flaskapp_nginx_reload
    fi
}

flaskapp_site_enable() {
    # Enables the site unless the package did so before (an admin who removed the link
    # keeps it removed), and disables Debian's default site with it, as the tutorial does.
    [ ! -e "$FLASKAPP_SITE_MARK" ] || return 0
    mkdir -p "$FLASKAPP_MARKS"
    if [ ! -e "$FLASKAPP_NGINX/sites-enabled/flaskapp" ] && [ ! -L "$FLASKAPP_NGINX/sites-enabled/flaskapp" ]; then
        ln -s ../sites-available/flaskapp "$FLASKAPP_NGINX/sites-enabled/flaskapp"
        echo "flaskapp: enabled nginx site $FLASKAPP_NGINX/sites-enabled/flaskapp"
    fi
    touch "$FLASKAPP_SITE_MARK"
    if [ -L "$FLASKAPP_NGINX/sites-enabled/default" ]; then
        rm "$FLASKAPP_NGINX/sites-enabled/default"
        touch "$FLASKAPP_DEFAULT_MARK"
        echo "flaskapp: disabled nginx's default site (purging flaskapp enables it again)"
    fi
}

flaskapp_site_disable() {
    # Takes the site out of nginx; a later configure enables it again.
    if [ -L "$FLASKAPP_NGINX/sites-enabled/flaskapp" ]; then
        rm "$FLASKAPP_NGINX/sites-enabled/flaskapp"
        rm -f "$FLASKAPP_SITE_MARK"
        echo "flaskapp: disabled nginx site $FLASKAPP_NGINX/sites-enabled/flaskapp"
    fi
}

flaskapp_site_configure() {
    # postinst configure: enable the site if due, then reload nginx if that or an upgrade
    # changed the site, but only onto a configuration that passes `nginx -t`; otherwise
    # nginx keeps serving the old one.
    if ! flaskapp_nginx_check; then
        echo "flaskapp: nginx's configuration is invalid (see above); flaskapp changed nothing" >&2
        echo "flaskapp: and nginx keeps serving its previous configuration. Fix it, then run" >&2
        echo "flaskapp: 'dpkg --configure -a'." >&2
        return 1
    fi
    flaskapp_site_enable
    if ! flaskapp_nginx_check; then
        flaskapp_site_disable
        echo "flaskapp: nginx rejects the flaskapp site (see above), so it was disabled again;" >&2
        echo "flaskapp: nginx keeps serving its previous configuration. Fix" >&2
        echo "flaskapp: $FLASKAPP_NGINX/sites-available/flaskapp, then run 'dpkg --configure -a'." >&2
        return 1
    fi
    flaskapp_nginx_reload_if_changed
}

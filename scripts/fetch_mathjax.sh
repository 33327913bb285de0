#!/bin/sh
# MathJax for the guide's equations, served from the site itself so the pages render offline:
# fetch the npm package once (the npm registry is reachable where PyPI is) and keep its
# self-contained SVG build, es5/tex-svg.js, and its licence in docs/javascripts/vendor/ (not
# tracked by git). Without npm or the registry the pages load MathJax from its CDN instead
# (docs/javascripts/mathjax.js falls back). Always exits 0.

VERSION=3.2.2
DEST=docs/javascripts/vendor
say() { echo "fetch_mathjax: $*"; }

[ -f "$DEST/tex-svg.js" ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
    say "npm not found: the guide will load MathJax from its CDN"
    exit 0
fi
work=$(mktemp -d)
if (cd "$work" && npm pack --silent "mathjax@$VERSION" >/dev/null 2>&1 && tar xzf "mathjax-$VERSION.tgz"); then
    mkdir -p "$DEST"
    cp "$work/package/es5/tex-svg.js" "$DEST/tex-svg.js"
    cp "$work/package/LICENSE" "$DEST/MATHJAX-LICENSE"
    say "MathJax $VERSION in $DEST"
else
    say "could not fetch mathjax@$VERSION from npm: the guide will load MathJax from its CDN"
fi
rm -rf "$work"
exit 0

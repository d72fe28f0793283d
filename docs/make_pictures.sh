#!/bin/sh
# Regenerate the pictures of the README's "Pictures" section: no trained model needed,
# nothing downloaded, about ten seconds. Run from the repository root:
#     sh docs/make_pictures.sh
# Each PNG is then reduced to 256 colours so the repository stays small.
set -e
for kind in anchors receptive-field labels roi-pool; do
    minirpn show "$kind" --out "docs/images/$kind.png"
    python -c "import sys; from PIL import Image; p = sys.argv[1]; \
Image.open(p).convert('RGB').quantize(256, dither=Image.Dither.NONE).save(p, optimize=True)" \
        "docs/images/$kind.png"
done

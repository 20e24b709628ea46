"""bench:preprocess's comparison column: PIL (Debian's python3-pil) doing what stages/preprocess does by default.

Usage: preprocess-pil.py WIDTH HEIGHT QUALITY THUMB_SIDE THUMB_QUALITY THUMB_EFFORT WORKERS, image paths one a line on stdin.

The files are read into memory first (the stage gets its bytes from S3, not from disk). A JPEG that already is the
model input (the stage's rule, `keepsOriginal` in stages/preprocess/model-input.ts: no resize, EXIF orientation 1,
8-bit RGB, no ICC profile or an sRGB one, at most KEPT_MAX_BYTES and its raw pixels' size) keeps its bytes: only its
thumbnail is made, decoding it whole (the check that it is not damaged) but shrunk on load (draft) by sharp's factor
for the thumbnail's size. Every other image goes through the same operations as the stage (sharp/libvips), in the
same order, so both sides produce the same outputs:
- decode the first frame; a JPEG shrinks on load (PIL's draft, libjpeg's DCT scaling) by the factor sharp picks
  (largest of 8, 4, 2 the shrink allows, halved when the shrink is exactly that factor);
- convert an embedded ICC profile to sRGB (perceptual intent), as sharp does with any embedded profile;
- flatten transparency onto white;
- resize to fit inside WIDTH x HEIGHT keeping the aspect ratio and never enlarging: Lanczos with a reducing gap of 2,
  as libvips' resize (lanczos3, gap 2.0);
- apply the EXIF orientation (after the resize, as sharp does: fewer pixels to turn), convert to 8-bit RGB;
- encode JPEG at QUALITY with optimised Huffman tables and 4:2:0 chroma, as sharp's defaults;
- the thumbnail from the resized pixels: fit inside THUMB_SIDE, never enlarging, WebP at THUMB_QUALITY and libwebp
  method THUMB_EFFORT (sharp's `effort`).

WORKERS 1 runs in this process; more fork that many processes (multiprocessing, the files shared by the fork), the
images handed out one at a time. Prints one JSON object: images, CPU seconds (this process and its workers) and wall
seconds of the work, the bytes of model input and thumbnails produced, (one worker only) each image's CPU seconds, and
whether each image kept its bytes.
"""

import io
import json
import math
import multiprocessing
import re
import resource
import sys
import time

from PIL import Image, ImageCms

SRGB = ImageCms.createProfile("sRGB")
TRANSPOSE = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}
SETTINGS = {}
PHOTOS = []
# stages/preprocess/model-input.ts KEPT_MAX_BYTES.
KEPT_MAX_BYTES = 750 * 1024


def fit_inside(width, height, max_width, max_height):
    scale = min(1, max_width / width, max_height / height)
    return (
        min(max_width, max(1, round(width * scale))),
        min(max_height, max(1, round(height * scale))),
    )


def jpeg_shrink_on_load(shrink):
    """sharp's pipeline.cc rule with fastShrinkOnLoad (its default)."""
    factor = 8 if shrink >= 8 else 4 if shrink >= 4 else 2 if shrink >= 2 else 1
    if factor > 1 and int(shrink) == factor:
        factor //= 2
    return factor


def is_srgb(icc):
    if not icc:
        return True
    try:
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (OSError, ImageCms.PyCMSError):
        return False
    return re.search(r"\bsRGB\b", description, re.IGNORECASE) is not None


def thumbnail_bytes(image):
    thumbnail_size = fit_inside(image.width, image.height, SETTINGS["thumb_side"], SETTINGS["thumb_side"])
    thumbnail = image if thumbnail_size == image.size else image.resize(
        thumbnail_size, Image.Resampling.LANCZOS, reducing_gap=2.0
    )
    encoded = io.BytesIO()
    thumbnail.save(encoded, format="WEBP", quality=SETTINGS["thumb_quality"], method=SETTINGS["thumb_effort"])
    return encoded.tell()


def prepare(index):
    s = SETTINGS
    original = PHOTOS[index]
    image = Image.open(io.BytesIO(original))
    image.seek(0)
    orientation = image.getexif().get(0x0112, 1)
    turned = orientation in (5, 6, 7, 8)
    stored_w, stored_h = image.size
    upright_w, upright_h = (stored_h, stored_w) if turned else (stored_w, stored_h)
    content_w, content_h = fit_inside(upright_w, upright_h, s["width"], s["height"])
    if (
        image.format == "JPEG"
        and (content_w, content_h) == (stored_w, stored_h)
        and orientation == 1
        and image.mode == "RGB"
        and is_srgb(image.info.get("icc_profile"))
        and len(original) <= min(KEPT_MAX_BYTES, stored_w * stored_h * 3)
    ):
        target = fit_inside(stored_w, stored_h, s["thumb_side"], s["thumb_side"])
        factor = jpeg_shrink_on_load(min(stored_w / target[0], stored_h / target[1]))
        if factor > 1:
            image.draft("RGB", (math.ceil(stored_w / factor), math.ceil(stored_h / factor)))
        image.load()
        return len(original) + thumbnail_bytes(image), True
    # The resize target in stored orientation: the turn comes after the resize.
    target = (content_h, content_w) if turned else (content_w, content_h)
    if image.format == "JPEG":
        factor = jpeg_shrink_on_load(min(stored_w / target[0], stored_h / target[1]))
        if factor > 1:
            image.draft(image.mode, (math.ceil(stored_w / factor), math.ceil(stored_h / factor)))
    image.load()

    icc = image.info.get("icc_profile")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if icc and image.mode in ("RGB", "RGBA", "L", "LA"):
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        image = ImageCms.profileToProfile(
            image.convert("RGB" if image.mode in ("RGB", "RGBA") else "L"),
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            SRGB,
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGB",
        )
        if alpha is not None:
            image.putalpha(alpha)
    if image.mode in ("RGBA", "LA"):
        flat = Image.new(image.mode[:-1], image.size, 255 if image.mode == "LA" else (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    elif image.mode not in ("RGB", "L"):
        image = image.convert("RGB")

    if image.size != target:
        image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
    for method in TRANSPOSE.get(orientation, []):
        image = image.transpose(method)
    if image.mode != "RGB":
        image = image.convert("RGB")

    model_input = io.BytesIO()
    image.save(model_input, format="JPEG", quality=s["quality"], optimize=True, subsampling="4:2:0")
    return model_input.tell() + thumbnail_bytes(image), False


def cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main():
    width, height, quality, thumb_side, thumb_quality, thumb_effort, workers = (int(arg) for arg in sys.argv[1:8])
    SETTINGS.update(
        width=width,
        height=height,
        quality=quality,
        thumb_side=thumb_side,
        thumb_quality=thumb_quality,
        thumb_effort=thumb_effort,
    )
    for line in sys.stdin:
        if line.strip():
            with open(line.strip(), "rb") as file:
                PHOTOS.append(file.read())
    indexes = range(len(PHOTOS))
    cpu = cpu_seconds()
    wall = time.perf_counter()
    per_image = []
    if workers == 1:
        outcomes = []
        for index in indexes:
            started = time.process_time()
            outcomes.append(prepare(index))
            per_image.append(time.process_time() - started)
        wall = time.perf_counter() - wall
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            outcomes = list(pool.imap(prepare, indexes, chunksize=1))
            wall = time.perf_counter() - wall
            pool.close()
            pool.join()
    print(json.dumps({
        "images": len(PHOTOS),
        "cpuSeconds": cpu_seconds() - cpu,
        "wallSeconds": wall,
        "bytes": sum(produced for produced, _ in outcomes),
        "cpuSecondsPerImage": per_image,
        "kept": [kept for _, kept in outcomes],
    }))


main()

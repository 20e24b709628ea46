"""bench:preprocess's comparison column: PIL (Debian's python3-pil) doing what stages/preprocess does by default.

Reads image paths, one a line, on stdin, and the target size and JPEG quality as arguments; for each image: decode
the first frame, apply the EXIF orientation, flatten transparency onto white, convert to 8-bit RGB, resize to fit
inside width x height keeping the aspect ratio and never enlarging (Lanczos, as sharp's default lanczos3), encode JPEG at the quality.
Prints one JSON object: images, CPU seconds of this process (time.process_time) and wall seconds.
"""

import io
import json
import sys
import time

from PIL import Image, ImageOps


def prepare(path, width, height, quality):
    with Image.open(path) as opened:
        opened.seek(0)
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        else:
            image = image.convert("RGB")
        # Like the stage's default fit, `inside`: never enlarges.
        scale = min(1, width / image.width, height / image.height)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        if size != image.size:
            image = image.resize(size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
        return out.tell()


def main():
    width, height, quality = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    paths = [line.strip() for line in sys.stdin if line.strip()]
    cpu, wall = time.process_time(), time.perf_counter()
    encoded = sum(prepare(path, width, height, quality) for path in paths)
    print(json.dumps({
        "images": len(paths),
        "cpuSeconds": time.process_time() - cpu,
        "wallSeconds": time.perf_counter() - wall,
        "bytes": encoded,
    }))


main()

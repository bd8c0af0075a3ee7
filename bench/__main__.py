import sys
from itertools import pairwise

# `--mode quality` is the retrieval-quality benchmark (bench/quality.py); every other mode is
# bench/run.py's.
argv = sys.argv[1:]
if "--mode=quality" in argv or any(a == "--mode" and b == "quality" for a, b in pairwise(argv)):
    from bench.quality import main
else:
    from bench.run import main

main()

"""The anchor of `baro validate`: a plain Python process that reads the exports with pyarrow and nothing else.

python bench/pyarrow_read.py [--no-huge-pages] FILE.csv ...   (prints the rows read)

--no-huge-pages: the process takes no transparent huge pages (Linux's prctl), as `baro` does while
it reads exports: pyarrow's allocator asks for them, and on fragmented memory their faults wait
for the kernel to compact memory, which makes the plain read slower and its time erratic.
"""
import ctypes
import sys

if sys.argv[1:2] == ["--no-huge-pages"]:
    PR_SET_THP_DISABLE = 41
    ctypes.CDLL(None).prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)
    del sys.argv[1]

import pyarrow.csv  # after the process' setting above

# The exports' own delimiter (the default ',' would read each line as one field: no parsing to speak of).
options = pyarrow.csv.ParseOptions(delimiter=";")
print(sum(pyarrow.csv.read_csv(path, parse_options=options).num_rows for path in sys.argv[1:]))

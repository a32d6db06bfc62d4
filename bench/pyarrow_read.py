"""The anchor of `baro validate`: a plain Python process that reads the exports with pyarrow and nothing else.

python bench/pyarrow_read.py FILE.csv ...   (prints the rows read)
"""
import sys

import pyarrow.csv

print(sum(pyarrow.csv.read_csv(path).num_rows for path in sys.argv[1:]))

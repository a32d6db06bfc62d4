"""The anchor of `baro validate`: a plain Python process that reads the exports with pyarrow and nothing else.

python bench/pyarrow_read.py FILE.csv ...   (prints the rows read)
"""
import sys

import pyarrow.csv

# The exports' own delimiter (the default ',' would read each line as one field: no parsing to speak of).
options = pyarrow.csv.ParseOptions(delimiter=";")
print(sum(pyarrow.csv.read_csv(path, parse_options=options).num_rows for path in sys.argv[1:]))

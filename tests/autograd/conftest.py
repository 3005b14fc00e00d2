import sys
from pathlib import Path

# op_cases.py sits next to the tests; make it importable however pytest is invoked.
sys.path.insert(0, str(Path(__file__).parent))

import sys
from pathlib import Path

# Lets test modules import the shared reference computations in tests/reference.py.
sys.path.insert(0, str(Path(__file__).parent))

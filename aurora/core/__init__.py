"""Pure core: numpy/pandas in, numbers out. No files, sockets, clocks, ccxt or FastAPI here."""

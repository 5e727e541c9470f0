// OpenBLAS's CBLAS header plus its thread-control calls (Debian: libopenblas-dev).
#include <cblas.h>

/* bl_mpi_pingpong: the baseline of the cluster figures -- Open MPI's own
 * round trip between rank 0 and rank 1 (run it under mpirun -n 2): a small
 * message (-bytes, default 64) sent back and forth -n times (default
 * 20000) after a warm-up. Both ranks wait in MPI_Recv (Open MPI polls).
 * Rank 0 prints "mpi_pingpong_us X": microseconds per round trip. */
#include <mpi.h>
#include "bench.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2) bench_fail("run under mpirun -n 2");
    long n = bench_arg(argc, argv, "n", 20000);
    long bytes = bench_arg(argc, argv, "bytes", 64);
    char *buf = calloc((size_t)bytes, 1);
    double t0 = 0;
    for (long i = -n / 10; i < n; i++) {   /* the first tenth warms up */
        if (i == 0) t0 = bench_now_ns();
        if (rank == 0) {
            MPI_Send(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        }
    }
    if (rank == 0) bench_report("mpi_pingpong_us", (bench_now_ns() - t0) / 1e3 / (double)n);
    free(buf);
    MPI_Finalize();
    return 0;
}

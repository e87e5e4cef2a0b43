/* The optimizer rules of the fused es_optimize op (esft_optim.h), as plain
 * #defines that C, OpenCL C, CUDA and GLSL all read. */
#ifndef ESFT_OPTIM_RULES_H
#define ESFT_OPTIM_RULES_H

#define ESFT_OPT_SGD 0
#define ESFT_OPT_MOMENTUM 1
#define ESFT_OPT_ADAM 2

#endif

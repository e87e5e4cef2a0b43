/* Subcommands of the esft program. Each takes argv with argv[0] = its name
 * and returns the process exit code (0 ok, 1 runtime failure, 2 usage). */
#ifndef ESFT_COMMANDS_H
#define ESFT_COMMANDS_H

int cmd_generate(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_info(int argc, char **argv);

#endif

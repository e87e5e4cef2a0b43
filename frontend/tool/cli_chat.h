/* The chat flags that train, eval and generate share: --chat, --template,
 * --system. */
#ifndef ESFT_CLI_CHAT_H
#define ESFT_CLI_CHAT_H

#include <stdbool.h>

#include "checkpoint.h"
#include "cli.h"
#include "evaluate.h"

#define CLI_CHAT_OPTS(chat, tmpl, system)                                                                   \
    {"chat", CLI_FLAG, &(chat), NULL,                                                                       \
     "format prompts with the model's chat template (tokenizer.chat_template: ChatML, Llama 3, Gemma, "      \
     "Mistral)", 0, 0},                                                                                     \
    {"template", CLI_STR, &(tmpl), "NAME",                                                                  \
     "with --chat: chatml|llama3|gemma|mistral|none instead of the model's own template", 0, 0},            \
    {"system", CLI_STR, &(system), "TEXT", "with --chat: a system message before each prompt", 0, 0}

/* Checks the flags (a known --template name, a --system that fits) and
 * puts them into cfg's chat, chat_template and system. Prints the error
 * itself and returns an exit code (0: fine). */
int cli_chat_config(const char *cmd, bool chat, const char *tmpl, const char *system, esft_run_config *cfg);

/* The template prompts of cfg use on model m (*use NULL: none), as
 * esft_run_chat_template; prints the error itself and returns an exit
 * code. */
int cli_chat_template(const char *cmd, const esft_model *m, esft_run_config *cfg, esft_chat_template *storage,
                      const esft_chat_template **use);

#endif

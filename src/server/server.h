/* server.h — the face of the server layer: the OpenAI API over the engine.
 *
 * Today it holds the mapping from OpenAI chat requests to harmony prompts (openai_chat.h), which
 * the command line shares with the HTTP endpoints.
 */
#ifndef GPTOSS_SERVER_H
#define GPTOSS_SERVER_H

#include "openai_chat.h"

#endif

/* mqlctl: sales' command line for mod_mql leads.  (Being written.) */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "mqlctl: not available yet\n");
    return 1;
}

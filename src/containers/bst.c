/* The BST kind: bst_impl.h instantiated once per reclamation scheme, so
 * each table's operations call the scheme's inline functions directly. */
#include <stdlib.h>
#include <string.h>

#include "ccoll/alloc.h"
#include "containers/map_internal.h"

#define CC__BST_S none
#include "containers/bst_impl.h"
#define CC__BST_S debra
#include "containers/bst_impl.h"
#define CC__BST_S debrap
#include "containers/bst_impl.h"
#define CC__BST_S ibr
#include "containers/bst_impl.h"

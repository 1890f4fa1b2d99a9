/* The synthetic dataset's words: noun concepts (with synonyms and categories), attributes,
 * and the accessors of synth.h. The caption templates live with the caption composer in
 * synth.c. Every word is lowercase ASCII letters only, and no word has two roles. */
#include "uarda/synth.h"

#include <stddef.h>

typedef struct noun_entry {
    const char *w[3];      /* the word, then 0-2 synonyms (NULL-padded) */
    unsigned char category;
} noun_entry;

enum { PERSON, ANIMAL, VEHICLE, FURNITURE, FOOD, CLOTHING, NATURE, STRUCTURE, SPORT, HOUSEHOLD, DEVICE };

static const char *const CATEGORY_NAMES[UA_SYNTH_N_CATEGORIES] = {
    "person", "animal", "vehicle", "furniture", "food", "clothing", "nature", "structure", "sport",
    "household", "device",
};

/* Most frequent first (the Zipf rank is the position), categories interleaved so that any
 * prefix has several categories. */
static const noun_entry NOUNS[] = {
    {{"man", "guy"}, PERSON},              {{"woman", "lady"}, PERSON},
    {{"dog", "puppy", "hound"}, ANIMAL},   {{"shirt"}, CLOTHING},
    {{"boy"}, PERSON},                     {{"car", "automobile"}, VEHICLE},
    {{"girl"}, PERSON},                    {{"tree"}, NATURE},
    {{"child", "kid"}, PERSON},            {{"ball"}, SPORT},
    {{"road", "street"}, STRUCTURE},       {{"table"}, FURNITURE},
    {{"hat", "cap"}, CLOTHING},            {{"grass", "lawn"}, NATURE},
    {{"building"}, STRUCTURE},             {{"bicycle", "bike"}, VEHICLE},
    {{"horse", "stallion"}, ANIMAL},       {{"player", "athlete"}, PERSON},
    {{"bench"}, FURNITURE},                {{"jacket", "coat"}, CLOTHING},
    {{"cat", "kitten"}, ANIMAL},           {{"bird"}, ANIMAL},
    {{"bus"}, VEHICLE},                    {{"phone", "cellphone", "smartphone"}, DEVICE},
    {{"book", "novel"}, HOUSEHOLD},        {{"beach", "shore"}, NATURE},
    {{"baby", "infant", "toddler"}, PERSON}, {{"chair", "seat"}, FURNITURE},
    {{"wall"}, STRUCTURE},                 {{"guitar"}, DEVICE},
    {{"bag", "handbag", "purse"}, CLOTHING}, {{"pizza"}, FOOD},
    {{"boat", "ship"}, VEHICLE},           {{"snow"}, NATURE},
    {{"fence"}, STRUCTURE},                {{"worker", "laborer"}, PERSON},
    {{"cup", "mug"}, HOUSEHOLD},           {{"helmet"}, CLOTHING},
    {{"umbrella", "parasol"}, CLOTHING},   {{"window"}, STRUCTURE},
    {{"motorcycle", "motorbike"}, VEHICLE}, {{"cow", "cattle"}, ANIMAL},
    {{"mountain"}, NATURE},                {{"sign", "signpost"}, STRUCTURE},
    {{"plate", "dish"}, HOUSEHOLD},        {{"cake"}, FOOD},
    {{"dress", "gown"}, CLOTHING},         {{"truck", "lorry"}, VEHICLE},
    {{"couch", "sofa"}, FURNITURE},        {{"sheep", "lamb"}, ANIMAL},
    {{"kite"}, SPORT},                     {{"cyclist", "biker"}, PERSON},
    {{"rock", "stone", "boulder"}, NATURE}, {{"train"}, VEHICLE},
    {{"flower", "blossom"}, NATURE},       {{"sandwich"}, FOOD},
    {{"door"}, STRUCTURE},                 {{"bottle"}, HOUSEHOLD},
    {{"surfboard"}, SPORT},                {{"elephant"}, ANIMAL},
    {{"laptop", "computer"}, DEVICE},      {{"skier"}, PERSON},
    {{"shoe", "sneaker"}, CLOTHING},       {{"bridge"}, STRUCTURE},
    {{"ocean", "sea"}, NATURE},            {{"bed"}, FURNITURE},
    {{"airplane", "plane", "aircraft"}, VEHICLE}, {{"camera"}, DEVICE},
    {{"giraffe"}, ANIMAL},                 {{"bowl"}, HOUSEHOLD},
    {{"skateboard"}, SPORT},               {{"surfer"}, PERSON},
    {{"backpack", "rucksack"}, CLOTHING},  {{"river", "stream"}, NATURE},
    {{"house", "home"}, STRUCTURE},        {{"lamp"}, FURNITURE},
    {{"banana"}, FOOD},                    {{"zebra"}, ANIMAL},
    {{"clock"}, HOUSEHOLD},                {{"television", "tv"}, DEVICE},
    {{"racket", "racquet"}, SPORT},        {{"chef", "cook"}, PERSON},
    {{"sidewalk", "pavement"}, STRUCTURE}, {{"apple"}, FOOD},
    {{"scarf"}, CLOTHING},                 {{"bear"}, ANIMAL},
    {{"taxi", "cab"}, VEHICLE},            {{"desk"}, FURNITURE},
    {{"knife"}, HOUSEHOLD},                {{"lake", "pond"}, NATURE},
    {{"musician"}, PERSON},                {{"frisbee"}, SPORT},
    {{"tower"}, STRUCTURE},                {{"duck"}, ANIMAL},
    {{"bread", "loaf"}, FOOD},             {{"piano"}, DEVICE},
    {{"glove"}, CLOTHING},                 {{"van"}, VEHICLE},
    {{"vase"}, HOUSEHOLD},                 {{"cloud"}, NATURE},
    {{"dancer"}, PERSON},                  {{"shelf"}, FURNITURE},
    {{"tent"}, STRUCTURE},                 {{"fish"}, ANIMAL},
    {{"donut", "doughnut"}, FOOD},         {{"drum"}, DEVICE},
    {{"tie", "necktie"}, CLOTHING},        {{"fork"}, HOUSEHOLD},
    {{"sand"}, NATURE},                    {{"bat"}, SPORT},
    {{"soldier"}, PERSON},                 {{"tractor"}, VEHICLE},
    {{"statue", "sculpture"}, STRUCTURE},  {{"monkey"}, ANIMAL},
    {{"salad"}, FOOD},                     {{"cabinet", "cupboard"}, FURNITURE},
    {{"boot"}, CLOTHING},                  {{"spoon"}, HOUSEHOLD},
    {{"bush", "shrub"}, NATURE},           {{"pole"}, STRUCTURE},
    {{"tourist", "traveler"}, PERSON},     {{"microphone", "mic"}, DEVICE},
    {{"lion"}, ANIMAL},                    {{"scooter"}, VEHICLE},
    {{"soup"}, FOOD},                      {{"basket"}, HOUSEHOLD},
    {{"sled", "sledge"}, SPORT},           {{"fountain"}, STRUCTURE},
    {{"leaf"}, NATURE},                    {{"belt"}, CLOTHING},
    {{"stool"}, FURNITURE},                {{"goat"}, ANIMAL},
    {{"teenager", "teen"}, PERSON},        {{"cookie", "biscuit"}, FOOD},
    {{"box", "crate"}, HOUSEHOLD},         {{"radio"}, DEVICE},
    {{"canoe", "kayak"}, VEHICLE},         {{"church"}, STRUCTURE},
    {{"log"}, NATURE},                     {{"net"}, SPORT},
    {{"pig", "hog"}, ANIMAL},              {{"policeman", "officer"}, PERSON},
    {{"mirror"}, FURNITURE},               {{"candle"}, HOUSEHOLD},
    {{"cheese"}, FOOD},                    {{"balloon"}, DEVICE},
    {{"rabbit", "bunny"}, ANIMAL},         {{"roof"}, STRUCTURE},
    {{"helicopter"}, VEHICLE},             {{"bucket", "pail"}, HOUSEHOLD},
    {{"farmer"}, PERSON},                  {{"egg"}, FOOD},
    {{"rug", "carpet"}, FURNITURE},        {{"goal"}, SPORT},
    {{"deer"}, ANIMAL},                    {{"flag", "banner"}, DEVICE},
    {{"suitcase", "luggage"}, HOUSEHOLD},  {{"staircase"}, STRUCTURE},
    {{"swimmer"}, PERSON},                 {{"carrot"}, FOOD},
    {{"chicken", "hen"}, ANIMAL},          {{"ladder"}, HOUSEHOLD},
    {{"hotdog"}, FOOD},                    {{"camel"}, ANIMAL},
    {{"rope"}, HOUSEHOLD},                 {{"broccoli"}, FOOD},
    {{"squirrel"}, ANIMAL},                {{"shovel"}, HOUSEHOLD},
    {{"turtle", "tortoise"}, ANIMAL},      {{"toy"}, HOUSEHOLD},
};
#define N_NOUNS ((int)(sizeof NOUNS / sizeof NOUNS[0]))

/* colours, sizes and textures, interleaved so that any prefix has all three kinds */
static const char *const ATTRS[] = {
    "red", "white", "small", "wooden", "black", "blue", "large", "striped", "green", "yellow",
    "tall", "metal", "brown", "orange", "shiny", "huge", "pink", "furry", "gray", "tiny",
    "spotted", "purple", "plastic", "long", "golden", "rusty", "silver", "fluffy", "dirty",
    "wet", "plaid", "leather", "old", "painted",
};
#define N_ATTRS ((int)(sizeof ATTRS / sizeof ATTRS[0]))

int ua_synth_max_nouns(void) { return N_NOUNS; }
int ua_synth_max_attrs(void) { return N_ATTRS; }

int ua_synth_noun_words(int noun, const char *const **words)
{
    if (noun < 0 || noun >= N_NOUNS) return 0;
    *words = NOUNS[noun].w;
    int n = 1;
    while (n < 3 && NOUNS[noun].w[n]) n++;
    return n;
}

const char *ua_synth_attr_word(int attr) { return attr >= 0 && attr < N_ATTRS ? ATTRS[attr] : NULL; }

int ua_synth_noun_category(int noun) { return noun >= 0 && noun < N_NOUNS ? NOUNS[noun].category : -1; }

const char *ua_synth_category_name(int category)
{
    return category >= 0 && category < UA_SYNTH_N_CATEGORIES ? CATEGORY_NAMES[category] : NULL;
}
